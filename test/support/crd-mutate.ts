// Deterministic mutations of corpus objects, to compare the two validators on many more objects
// than the hand-written corpus holds: drop a field or list item, copy a value that the same field
// has elsewhere in the corpus, repeat a list item, edit a string, or put a value of another type.

import type { KubeObject } from '../../src/api/meta.ts';

const WEIRD: unknown[] = [null, 0, 70000, -1, 'x', '', true, [], {}, [{}], 'A_B', '1.2.3.4', '*'];
const EDITS: ((s: string) => string)[] = [
  (s) => `${s}/`,
  (s) => s.toUpperCase(),
  () => '',
  (s) => `*.${s}`,
  (s) => `${s}//x`,
  (s) => s.slice(1),
  (s) => `${s}%2F`,
  () => '0s',
  () => '1.2.3.4',
  (s) => `${s} `,
];

/** A small linear congruential generator: the same seed gives the same mutants on every run. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
}

/** Leaf values of the corpus by field name, so mutations use values that field really takes. */
export function valuesByField(objects: KubeObject[]): Map<string, unknown[]> {
  const pool = new Map<string, unknown[]>();
  const collect = (x: unknown, key: string) => {
    if (Array.isArray(x)) x.forEach((y) => collect(y, key));
    else if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) collect(y, k);
    else pool.set(key, [...(pool.get(key) ?? []), x]);
  };
  for (const o of objects) collect(o.spec, 'spec');
  return pool;
}

/** A copy of `obj` with one random change somewhere in its spec (undefined when spec is empty). */
export function mutate(obj: KubeObject, rand: (n: number) => number, pool: Map<string, unknown[]>): KubeObject | undefined {
  const copy = structuredClone(obj) as KubeObject & { spec: any };
  const slots: [any, string | number, string][] = [];
  const walk = (x: any, key: string) => {
    if (Array.isArray(x)) {
      x.forEach((y, i) => {
        slots.push([x, i, key]);
        walk(y, key);
      });
    } else if (x && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        slots.push([x, k, k]);
        walk(y, k);
      }
    }
  };
  walk(copy.spec, 'spec');
  if (slots.length === 0) return undefined;
  const [parent, key, field] = slots[rand(slots.length)];
  const current = parent[key];
  const pick = <T>(a: T[]) => a[rand(a.length)];
  switch (rand(6)) {
    case 0:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 1:
      parent[key] = structuredClone(pick(pool.get(field) ?? [1]));
      break;
    case 2:
      if (Array.isArray(current) && current.length) current.push(structuredClone(pick(current)));
      else parent[key] = structuredClone(pick(WEIRD));
      break;
    case 3:
      parent[key] = typeof current === 'string' ? pick(EDITS)(current) : structuredClone(pick(WEIRD));
      break;
    case 4:
      if (Array.isArray(parent)) parent.push(structuredClone(current));
      else parent[key] = structuredClone(pick(pool.get(field) ?? [1]));
      break;
    default:
      parent[key] = structuredClone(pick(WEIRD));
  }
  return copy;
}
