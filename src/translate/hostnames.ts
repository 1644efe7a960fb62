// Hostname matching and intersection (spec: Listener.hostname, HTTPRoute.hostnames,
// site docs/concepts/hostnames.md). A wildcard "*.example.com" matches one OR MORE labels
// in place of "*", never "example.com" itself. An absent hostname matches everything ("*").

/** True when the (possibly wildcard) pattern matches the concrete host name. */
export function hostMatches(pattern: string | undefined, host: string): boolean {
  if (pattern === undefined || pattern === '*') return true;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1); // ".example.com"
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return pattern === host;
}

/**
 * The intersection of two hostnames (each exact, "*.suffix", or undefined for any), as the
 * most specific hostname matched by both; undefined result means "no intersection", the
 * string "*" means "any host". Symmetric: intersect(a, b) === intersect(b, a).
 */
export function intersect(a: string | undefined, b: string | undefined): string | undefined {
  const x = a ?? '*';
  const y = b ?? '*';
  if (x === '*') return y;
  if (y === '*') return x;
  const xw = x.startsWith('*.');
  const yw = y.startsWith('*.');
  if (!xw && !yw) return x === y ? x : undefined;
  if (xw && !yw) return hostMatches(x, y) ? y : undefined;
  if (!xw && yw) return hostMatches(y, x) ? x : undefined;
  // Both wildcards: the one with the longer suffix is the more specific, if it is inside the other.
  if (x === y) return x;
  if (x.length > y.length) return x.endsWith(y.slice(1)) ? x : undefined;
  return y.endsWith(x.slice(1)) ? y : undefined;
}

/**
 * Specificity order for hostnames (listeners and virtual hosts): exact first, then wildcards
 * with more characters, then "*" / absent. Ties broken by the name itself, for determinism.
 */
export function cmpHostSpecificity(a: string | undefined, b: string | undefined): number {
  const ra = hostRank(a);
  const rb = hostRank(b);
  if (ra !== rb) return ra - rb;
  // Same rank: more characters first ("*" / absent all have length 0 here).
  const la = ra === 2 ? 0 : a!.length;
  const lb = rb === 2 ? 0 : b!.length;
  if (la !== lb) return lb - la;
  const sa = a ?? '';
  const sb = b ?? '';
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** 0 exact, 1 wildcard, 2 any host. */
function hostRank(h: string | undefined): number {
  if (h === undefined || h === '*') return 2;
  return h.startsWith('*.') ? 1 : 0;
}
