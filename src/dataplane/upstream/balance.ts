// Backend choice for one request: weighted random among a route's backendRefs (weight 0 was
// dropped at compile time), round-robin among the chosen backend's endpoints, and session
// persistence tokens that pin a client to one endpoint.
import type { BackendChoice, BackendRuntime, RouteRuntime } from '../model.ts';
import type { EndpointRuntime } from './pools.ts';

export function chooseBackend(route: RouteRuntime): BackendChoice | undefined {
  const n = route.choices.length;
  if (n === 0) return undefined;
  if (n === 1) return route.choices[0];
  const x = Math.random() * route.totalWeight;
  const cum = route.cumulative;
  for (let i = 0; i < n; i++) if (x < cum[i]) return route.choices[i];
  return route.choices[n - 1];
}

export function nextEndpoint(b: BackendRuntime): EndpointRuntime | undefined {
  const eps = b.endpoints;
  if (eps.length === 0) return undefined;
  if (eps.length === 1) return eps[0];
  const i = b.next;
  b.next = i + 1 >= eps.length ? 0 : i + 1;
  return eps[i];
}

/** Session token naming a backend and one of its endpoints. */
export function sessionToken(backendId: string, ep: EndpointRuntime): string {
  return Buffer.from(`${backendId}\n${ep.hostPort}`).toString('base64url');
}

/** Finds the choice and endpoint a token names, among the route's current backends. */
export function resolveToken(route: RouteRuntime, token: string): { choice: BackendChoice; endpoint: EndpointRuntime } | undefined {
  let decoded: string;
  try { decoded = Buffer.from(token, 'base64url').toString(); } catch { return undefined; }
  const nl = decoded.indexOf('\n');
  if (nl < 0) return undefined;
  const id = decoded.slice(0, nl);
  const hostPort = decoded.slice(nl + 1);
  for (const choice of route.choices) {
    const b = choice.backend;
    if (b === undefined || b.id !== id) continue;
    for (const ep of b.endpoints) if (ep.hostPort === hostPort) return { choice, endpoint: ep };
  }
  return undefined;
}

/** Value of one cookie in a Cookie header, without allocating for the others. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const s = typeof header === 'string' ? header : header.join('; ');
  let i = 0;
  while (i < s.length) {
    while (s.charCodeAt(i) === 32) i++;
    const semi = s.indexOf(';', i);
    const end = semi < 0 ? s.length : semi;
    const eq = s.indexOf('=', i);
    if (eq > 0 && eq < end && s.slice(i, eq).trim() === name) return s.slice(eq + 1, end).trim();
    i = end + 1;
  }
  return undefined;
}
