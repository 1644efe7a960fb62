// SNI matching for TLS listeners and TLSRoutes, per the Gateway API hostname rules: an exact name
// beats any wildcard, a longer wildcard suffix beats a shorter one, and a wildcard "*.example.com"
// matches one OR MORE labels in front of "example.com" (unlike certificate wildcards), never
// "example.com" itself. "*" or an absent hostname matches everything, last.
import type { IRL4Route, IRListener } from '../../ir/types.ts';

/** Specificity of `pattern` for `host` (already lower-cased), or -1 when it does not match. */
export function hostnameScore(pattern: string | undefined, host: string): number {
  if (pattern === undefined || pattern === '' || pattern === '*') return 0;
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    return host.length > suffix.length && host.endsWith(suffix) ? suffix.length : -1;
  }
  // Exact names outrank every wildcard: no suffix can be longer than 255 characters.
  return p === host ? 1000 : -1;
}

/**
 * The listener that owns `sni` among listeners sharing a port: the most specific hostname wins;
 * traffic never falls through to a less specific listener. Ties keep the given (IR) order.
 */
export function selectListener(listeners: readonly IRListener[], sni: string): IRListener | undefined {
  return best(listeners, (l) => hostnameScore(l.hostname, sni));
}

/** The TLSRoute rule for `sni` on a listener: most specific route hostname, then IR precedence. */
export function selectRoute(routes: readonly IRL4Route[], sni: string): IRL4Route | undefined {
  return best(routes, (r) => {
    if (r.hostnames.length === 0) return 0;
    let score = -1;
    for (const h of r.hostnames) score = Math.max(score, hostnameScore(h, sni));
    return score;
  });
}

function best<T>(items: readonly T[], score: (item: T) => number): T | undefined {
  let winner: T | undefined;
  let top = -1;
  for (const item of items) {
    const s = score(item);
    if (s > top) {
      top = s;
      winner = item;
    }
  }
  return winner;
}
