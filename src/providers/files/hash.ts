// Content hashes of filled objects: what metadata.generation tracks (everything but metadata and
// status), computed only when two versions of an object must be compared (a file changed), and
// at most once per object instance. A cold start with tens of thousands of objects hashes none.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../api/meta.ts';

const hashes = new WeakMap<KubeObject, string>();

/** Hash of everything but metadata and status (key order does not matter). */
export function contentHash(obj: KubeObject): string {
  let h = hashes.get(obj);
  if (h === undefined) {
    const { metadata: _m, status: _s, ...content } = obj;
    h = createHash('sha256').update(stableJson(content)).digest('hex');
    hashes.set(obj, h);
  }
  return h;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
