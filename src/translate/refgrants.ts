// ReferenceGrant: every cross-namespace reference (except route → parent) needs a grant in
// the target's namespace. Grants are not inherited (a ListenerSet does not use its Gateway's).
import type { Context } from './context.ts';
import { objArr, str, obj } from './util.ts';

export interface RefFrom {
  group: string;
  kind: string;
  namespace: string;
}

export interface RefTo {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

export function refAllowed(ctx: Context, from: RefFrom, to: RefTo): boolean {
  if (from.namespace === to.namespace) return true;
  for (const grant of ctx.list('ReferenceGrant')) {
    if (grant.metadata.namespace !== to.namespace) continue;
    const spec = obj(grant.spec);
    const fromOk = objArr(spec.from).some((f) =>
      (str(f.group) ?? '') === from.group && str(f.kind) === from.kind && str(f.namespace) === from.namespace);
    if (!fromOk) continue;
    const toOk = objArr(spec.to).some((t) =>
      (str(t.group) ?? '') === to.group && str(t.kind) === to.kind && (t.name === undefined || t.name === to.name));
    if (toOk) return true;
  }
  return false;
}
