// Backend choice for one connection (or UDP session): a weighted random pick among the route's
// backendRefs (weight 0 is never picked; an invalid ref keeps its share, and a connection that
// lands on it is rejected, as the spec asks), then round-robin over the backend's endpoints.
import type { IRBackend, IRWeightedBackend } from '../../ir/types.ts';

export interface Endpoint {
  address: string;
  port: number;
}

export type Pick =
  | { ok: true; backend: IRBackend; /** Endpoints in the order to try: round-robin start, then the rest. */ endpoints: Endpoint[] }
  | { ok: false; reason: 'no_backend' | 'invalid_backend' | 'no_endpoints' };

export class Balancer {
  /** Round-robin position per backend id; kept across config updates. */
  private readonly next = new Map<string, number>();
  private readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  pick(refs: readonly IRWeightedBackend[], backends: Readonly<Record<string, IRBackend>>): Pick {
    const ref = this.weighted(refs);
    if (!ref) return { ok: false, reason: 'no_backend' };
    const backend = ref.backendId === undefined ? undefined : backends[ref.backendId];
    if (!backend) return { ok: false, reason: 'invalid_backend' };
    if (backend.endpoints.length === 0) return { ok: false, reason: 'no_endpoints' };
    return { ok: true, backend, endpoints: this.rotate(backend) };
  }

  private weighted(refs: readonly IRWeightedBackend[]): IRWeightedBackend | undefined {
    let total = 0;
    for (const r of refs) if (r.weight > 0) total += r.weight;
    if (total === 0) return undefined;
    let x = this.random() * total;
    for (const r of refs) {
      if (r.weight <= 0) continue;
      x -= r.weight;
      if (x < 0) return r;
    }
    // Floating point leftovers: the last positive-weight ref.
    for (let i = refs.length - 1; i >= 0; i--) if (refs[i].weight > 0) return refs[i];
    return undefined;
  }

  private rotate(backend: IRBackend): Endpoint[] {
    const eps = backend.endpoints;
    const start = (this.next.get(backend.id) ?? 0) % eps.length;
    this.next.set(backend.id, start + 1);
    return start === 0 ? eps.slice() : [...eps.slice(start), ...eps.slice(0, start)];
  }
}
