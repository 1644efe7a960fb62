// Programmed gating: translate() says what *would* be programmed; only the data plane knows what
// is. This pure function turns translate()'s statuses into honest ones for what is live:
//   - before dataPlane.apply() resolved for the IR's generation, every Programmed=True of a
//     Gateway, its listeners, a ListenerSet and its entries becomes Programmed=False/Pending
//     (only for the objects whose configuration changed, when the caller says which);
//   - listeners the data plane could not bind become Programmed=False (listener: Invalid,
//     ListenerSet entry: PortUnavailable) with the bind error as message, and a Gateway or
//     ListenerSet none of whose listeners could be bound becomes Programmed=False
//     (AddressNotUsable / PortUnavailable).
// Conditions that are not True are left alone: translate's reasons for them come first.
import type { Condition } from '../api/meta.ts';
import type { ApplyResult } from '../dataplane/index.ts';
import type { IR } from '../ir/types.ts';
import type { OwnedStatus } from '../translate/index.ts';

export interface GateOptions {
  /** Time stamped on conditions this function changes. */
  now: string;
  /** The data plane's --bind-address: what gateways without spec.addresses bind. */
  bindAddress?: string;
  /**
   * While the data plane is behind the IR's generation: the objects ("Gateway/ns/name",
   * "ListenerSet/ns/name") whose configuration differs from what is live. Only they are Pending;
   * the others are live as they are. Absent: all of them are Pending.
   */
  changed?: ReadonlySet<string>;
}

/** Bind failures by object ("Gateway/ns/name" or "ListenerSet/ns/name"), then listener name. */
type Failures = Map<string, Map<string, string>>;

export function gateProgrammed(
  statuses: readonly OwnedStatus[],
  ir: IR,
  live: ApplyResult | undefined,
  options: GateOptions,
): OwnedStatus[] {
  const behind = !live || live.generation < ir.generation;
  const { failures, listenerCounts } = bindFailures(ir, live ? live.bindErrors : {}, options.bindAddress ?? '0.0.0.0');
  return statuses.map((s) => {
    const kind = s.object.kind;
    if (kind !== 'Gateway' && kind !== 'ListenerSet') return s;
    const key = `${kind}/${s.object.metadata.namespace ?? 'default'}/${s.object.metadata.name}`;
    const pending = !live || (behind && (options.changed === undefined || options.changed.has(key)));
    const failed = pending ? undefined : failures.get(key);
    if (!pending && !failed) return s;
    return { ...s, status: gateOne(kind, s.status, pending, ir.generation, failed, listenerCounts.get(key) ?? 0, options.now) };
  });
}

function gateOne(
  kind: 'Gateway' | 'ListenerSet',
  status: Record<string, unknown>,
  pending: boolean,
  generation: number,
  failed: Map<string, string> | undefined,
  liveListeners: number,
  now: string,
): Record<string, unknown> {
  const out = structuredClone(status);
  const pendingMessage = `Waiting for the data plane to program configuration generation ${generation}`;
  const entryFailedReason = kind === 'Gateway' ? 'Invalid' : 'PortUnavailable';

  const listeners = Array.isArray(out.listeners) ? (out.listeners as { name?: string; conditions?: Condition[] }[]) : [];
  for (const l of listeners) {
    const error = l.name !== undefined ? failed?.get(l.name) : undefined;
    if (pending) downgrade(l.conditions, 'Pending', pendingMessage, now);
    else if (error) downgrade(l.conditions, entryFailedReason, error, now);
  }

  const conditions = out.conditions as Condition[] | undefined;
  if (pending) {
    downgrade(conditions, 'Pending', pendingMessage, now);
  } else if (failed && failed.size >= liveListeners && liveListeners > 0) {
    const reason = kind === 'Gateway' ? 'AddressNotUsable' : 'PortUnavailable';
    downgrade(conditions, reason, `No listener could be bound: ${[...new Set(failed.values())].join('; ')}`, now);
  }
  return out;
}

/** Sets a Programmed=True condition to False with the given reason; leaves any other alone. */
function downgrade(conditions: Condition[] | undefined, reason: string, message: string, now: string): void {
  const c = conditions?.find((x) => x.type === 'Programmed');
  if (!c || c.status !== 'True') return;
  c.status = 'False';
  c.reason = reason;
  c.message = message;
  c.lastTransitionTime = now;
}

function bindFailures(ir: IR, bindErrors: Record<string, string>, bindAddress: string) {
  const failures: Failures = new Map();
  const listenerCounts = new Map<string, number>();
  // Keys are "address:port" for TCP-based listeners and "udp/address:port" for UDP ones (a TCP
  // and a UDP listener may share a port number).
  const errors = Object.entries(bindErrors).map(([where, message]) => {
    const udp = where.startsWith('udp/');
    return { ...splitHostPort(udp ? where.slice(4) : where), udp, where, message };
  });
  for (const gw of ir.gateways) {
    const addresses = gw.addresses.length > 0 ? gw.addresses : [bindAddress];
    for (const l of gw.listeners) {
      const owner = `${l.source.kind}/${l.source.namespace ?? 'default'}/${l.source.name}`;
      listenerCounts.set(owner, (listenerCounts.get(owner) ?? 0) + 1);
      const e = errors.find((x) => x.port === l.port && x.udp === (l.protocol === 'UDP') && (x.host === '' || addresses.some((a) => sameHost(a, x.host))));
      if (!e || l.source.sectionName === undefined) continue;
      if (!failures.has(owner)) failures.set(owner, new Map());
      failures.get(owner)!.set(l.source.sectionName, `Cannot listen on ${e.where}: ${e.message}`);
    }
  }
  return { failures, listenerCounts };
}

/** "10.0.0.1:80", "[::1]:80", "::1:80" or ":80" → host and port. */
export function splitHostPort(where: string): { host: string; port: number } {
  const i = where.lastIndexOf(':');
  if (i < 0) return { host: where, port: NaN };
  return { host: where.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(where.slice(i + 1)) };
}

function sameHost(a: string, b: string): boolean {
  return a.replace(/^\[|\]$/g, '').toLowerCase() === b.toLowerCase();
}
