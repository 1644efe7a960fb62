// Ordering, as the spec words it. Keys are arrays compared element by element; every key ends
// in unique tie-breakers (route order, rule index, match index) so the order is total and the
// IR is the same whatever order the snapshot listed the objects in.
//
// HTTPRoute (rules[].matches doc): Exact path, then the longest PathPrefix, then a method
// match, then the most header matches, then the most query-param matches; then the oldest
// route, then namespace/name, then rule order. RegularExpression paths are implementation-
// specific: like Envoy Gateway, Portico puts them after Exact and before PathPrefix, longer
// patterns first. GRPCRoute matches arrive here as paths (/service/method Exact, /service
// PathPrefix, or a regex), which yields the gRPC order: more characters in service, then
// method, then more headers.
import type { IRMatch } from '../ir/types.ts';
import { cmpStr } from './util.ts';

export type Key = (number | string)[];

export function cmpKey(a: Key, b: Key): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return cmpStr(String(x), String(y));
  }
  return a.length - b.length;
}

const PATH_RANK: Record<string, number> = { Exact: 0, RegularExpression: 1, PathPrefix: 2 };

/** Position of the route's order in an httpKey (the incremental translator updates it in place). */
export const ROUTE_ORDER_INDEX = 5;

export function httpKey(m: IRMatch, routeOrder: number, rule: number, match: number): Key {
  return [
    PATH_RANK[m.path.type] ?? 3,
    -m.path.value.length,
    m.method ? 0 : 1,
    -m.headers.length,
    -m.queryParams.length,
    routeOrder,
    rule,
    match,
  ];
}
