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
  const n = eps.length;
  if (n === 0) return undefined;
  if (n === 1) return eps[0];
  let i = b.next;
  const first = i;
  let now = 0;
  // Skip endpoints passive health marked down; if all are, use the round-robin one anyway.
  for (let tries = 0; tries < n; tries++) {
    const ep = eps[i];
    i = i + 1 >= n ? 0 : i + 1;
    if (ep.health.downUntil === 0 || ep.health.downUntil <= (now ||= Date.now())) {
      b.next = i;
      return ep;
    }
  }
  b.next = first + 1 >= n ? 0 : first + 1;
  return eps[first];
}

/**
 * Session token naming a backend, one of its endpoints, when the session started and (with an
 * idle timeout) when it was last used. Not signed: it can only ever pick among the route's own
 * endpoints, which any client may reach anyway.
 */
export function sessionToken(backendId: string, ep: EndpointRuntime, created: number, lastUsed: number): string {
  const start = created > 0 ? created : Date.now();
  return Buffer.from(`${backendId}\n${ep.hostPort}\n${start.toString(36)}\n${lastUsed.toString(36)}`).toString('base64url');
}

/** Finds the choice and endpoint a token names, among the route's current backends, if the session is still valid. */
export function resolveToken(route: RouteRuntime, token: string, now: number): { choice: BackendChoice; endpoint: EndpointRuntime; created: number } | undefined {
  const parts = Buffer.from(token, 'base64url').toString().split('\n');
  if (parts.length !== 4) return undefined;
  const [id, hostPort, createdText, lastText] = parts;
  const created = parseInt(createdText, 36);
  const last = parseInt(lastText, 36);
  const s = route.session;
  if (!(created > 0)) return undefined;
  if (s !== undefined && s.absoluteMs > 0 && now - created > s.absoluteMs) return undefined;
  if (s !== undefined && s.idleMs > 0 && now - (last > 0 ? last : created) > s.idleMs) return undefined;
  for (const choice of route.choices) {
    const b = choice.backend;
    if (b === undefined || b.id !== id) continue;
    for (const ep of b.endpoints) if (ep.hostPort === hostPort) return { choice, endpoint: ep, created };
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
