// Kubernetes LabelSelector matching (matchLabels AND matchExpressions). A malformed selector
// matches nothing, so a typo never opens a listener to every namespace.
import { arr, isObj, obj, str, strArr } from './util.ts';

export function matchesSelector(selector: unknown, labels: Record<string, string>): boolean {
  if (!isObj(selector)) return false;
  const ml = obj(selector.matchLabels);
  for (const [k, v] of Object.entries(ml)) {
    if (typeof v !== 'string' || labels[k] !== v) return false;
  }
  for (const e of arr(selector.matchExpressions)) {
    if (!isObj(e)) return false;
    const key = str(e.key);
    if (key === undefined) return false;
    const values = strArr(e.values);
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (str(e.operator)) {
      case 'In': if (!has || !values.includes(labels[key]!)) return false; break;
      case 'NotIn': if (has && values.includes(labels[key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}
