// An IR as sent to worker processes (workers.ts): the parts a worker already holds go as
// references. The incremental translator keeps a listener's virtualHosts array and each backend
// object while they are unchanged, so after a one-route change a worker is sent one listener's
// virtual hosts, and it keeps the very objects it had for everything else: its compile cache
// (keyed by object identity, see compile.ts) then works as it does in-process. Without this,
// every change re-sent the whole IR as JSON to every worker, and each recompiled all of it.
import type { IR, IRBackend, IRGateway, IRVirtualHost } from '../ir/types.ts';

/** A part the worker holds already (ref), or one it is to hold from now on (def). */
type Part<T> = { ref: number } | { def: number; value: T };

export interface WireIR {
  /** The IR with every listener's virtualHosts empty and no backends: they are in the parts. */
  ir: IR;
  /** One per listener, in gateway then listener order. */
  vhosts: Part<IRVirtualHost[]>[];
  backends: Record<string, Part<IRBackend>>;
}

/** Primary side: one per data plane; each worker's holdings are tracked by the caller. */
export class WireEncoder {
  private readonly ids = new WeakMap<object, number>();
  private next = 1;

  /**
   * Encodes `ir` for a worker holding the parts `held`. Returns the message and what the worker
   * holds once it decoded it (the parts of this IR only: both sides forget the others).
   */
  encode(ir: IR, held: ReadonlySet<number>): { wire: WireIR; holds: Set<number> } {
    const holds = new Set<number>();
    const part = <T extends object>(value: T): Part<T> => {
      let id = this.ids.get(value);
      if (id === undefined) {
        id = this.next++;
        this.ids.set(value, id);
      }
      holds.add(id);
      return held.has(id) ? { ref: id } : { def: id, value };
    };
    const vhosts: Part<IRVirtualHost[]>[] = [];
    const gateways: IRGateway[] = ir.gateways.map((g) => ({
      ...g,
      listeners: g.listeners.map((l) => {
        vhosts.push(part(l.virtualHosts));
        return { ...l, virtualHosts: [] };
      }),
    }));
    const backends: Record<string, Part<IRBackend>> = {};
    for (const [id, b] of Object.entries(ir.backends)) backends[id] = part(b);
    return { wire: { ir: { ...ir, gateways, backends: {} }, vhosts, backends }, holds };
  }
}

/** Worker side: the parts held, by id. */
export class WireDecoder {
  private held = new Map<number, unknown>();

  /** The IR, with the very objects of earlier messages for referenced parts. Throws on an unknown reference. */
  decode(wire: WireIR): IR {
    const next = new Map<number, unknown>();
    const resolve = <T>(p: Part<T>): T => {
      if ('def' in p) {
        next.set(p.def, p.value);
        return p.value;
      }
      if (!this.held.has(p.ref)) throw new Error(`configuration part ${p.ref} is unknown to this worker`);
      const value = this.held.get(p.ref) as T;
      next.set(p.ref, value);
      return value;
    };
    let i = 0;
    const gateways = wire.ir.gateways.map((g) => ({
      ...g,
      listeners: g.listeners.map((l) => ({ ...l, virtualHosts: resolve(wire.vhosts[i++]) })),
    }));
    const backends: Record<string, IRBackend> = {};
    for (const [id, p] of Object.entries(wire.backends)) backends[id] = resolve(p);
    this.held = next;
    return { ...wire.ir, gateways, backends };
  }

  /** Forgets every part (the primary sends everything again after an error). */
  reset(): void {
    this.held = new Map();
  }
}
