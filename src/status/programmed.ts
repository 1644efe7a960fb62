// Programmed gating: translate() says what *would* be programmed; only the data plane knows what
// is. This pure function turns translate()'s statuses into honest ones for what is live:
//   - before dataPlane.apply() resolved for the IR's generation, every Programmed=True of a
//     Gateway, its listeners, a ListenerSet and its entries becomes Programmed=False/Pending
//     (only for the objects whose configuration changed, when the caller says which);
//   - listeners the data plane could not bind become Programmed=False (listener: Invalid,
//     ListenerSet entry: PortUnavailable, or Invalid when the port is not the problem) with the
//     bind error as message, and Accepted=False/PortUnavailable when the port is the problem
//     (in use, privileged); a Gateway or ListenerSet none of whose listeners could be bound
//     becomes Programmed=False (Gateway: AddressNotUsable, or NoResources when the host ran out
//     of file descriptors or memory; ListenerSet: PortUnavailable or Invalid);
//   - a ListenerSet whose parent Gateway ends up Programmed=False for any reason but Pending is
//     Programmed=False/ParentNotProgrammed (see propagateToListenerSets).
// markUnassigned() does the same for Gateways the Kubernetes address pool had no address for
// (AddressNotAssigned). Conditions that are not True are left alone: translate's reasons for
// them come first.
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

/** What a bind error is about, from its errno code. */
type BindProblem = 'port' | 'address' | 'resources';

interface BindFailure {
  message: string;
  problem: BindProblem;
}

/** Bind failures by object ("Gateway/ns/name" or "ListenerSet/ns/name"), then listener name. */
type Failures = Map<string, Map<string, BindFailure>>;

/** errno codes that mean the host ran out of something, not that the port or address is wrong. */
const RESOURCE_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS']);

/**
 * "listen EADDRINUSE: address already in use 0.0.0.0:80" → port. An address the host does not
 * have is the address's fault; exhausted descriptors or memory are the host's; anything else
 * (in use, EACCES on a privileged port, ...) means this port cannot be used here.
 */
function bindProblem(message: string): BindProblem {
  const code = /\bE[A-Z]{3,}\b/.exec(message)?.[0];
  if (code === 'EADDRNOTAVAIL') return 'address';
  if (code !== undefined && RESOURCE_ERRORS.has(code)) return 'resources';
  return 'port';
}

export function gateProgrammed(
  statuses: readonly OwnedStatus[],
  ir: IR,
  live: ApplyResult | undefined,
  options: GateOptions,
): OwnedStatus[] {
  const behind = !live || live.generation < ir.generation;
  const { failures, listenerCounts } = bindFailures(ir, live ? live.bindErrors : {}, options.bindAddress ?? '0.0.0.0');
  const gated = statuses.map((s) => {
    const kind = s.object.kind;
    if (kind !== 'Gateway' && kind !== 'ListenerSet') return s;
    const key = objectKey(s);
    const pending = !live || (behind && (options.changed === undefined || options.changed.has(key)));
    const failed = pending ? undefined : failures.get(key);
    if (!pending && !failed) return s;
    return { ...s, status: gateOne(kind, s.status, pending, ir.generation, failed, listenerCounts.get(key) ?? 0, options.now) };
  });
  return propagateToListenerSets(gated, options.now);
}

/**
 * Gateways the Kubernetes address pool had no address for ("Gateway/ns/name" → message):
 * Programmed=False/AddressNotAssigned, and their ListenerSets ParentNotProgrammed.
 */
export function markUnassigned(statuses: readonly OwnedStatus[], unassigned: ReadonlyMap<string, string>, now: string): OwnedStatus[] {
  if (unassigned.size === 0) return propagateToListenerSets(statuses, now);
  const marked = statuses.map((s) => {
    const message = s.object.kind === 'Gateway' ? unassigned.get(objectKey(s)) : undefined;
    return message === undefined ? s : { ...s, status: markAddressNotAssigned(s.status, message, now) };
  });
  return propagateToListenerSets(marked, now);
}

/** Programmed=False/AddressNotAssigned on a Gateway status (and no addresses reported). */
export function markAddressNotAssigned(status: Record<string, unknown>, message: string, now: string): Record<string, unknown> {
  const out = structuredClone(status);
  const conditions = (Array.isArray(out.conditions) ? out.conditions : []) as Condition[];
  const programmed = conditions.find((c) => c.type === 'Programmed');
  if (programmed) {
    if (programmed.status !== 'False' || programmed.reason !== 'AddressNotAssigned') programmed.lastTransitionTime = now;
    Object.assign(programmed, { status: 'False', reason: 'AddressNotAssigned', message });
  } else {
    conditions.push({ type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', message, lastTransitionTime: now });
  }
  out.conditions = conditions;
  delete out.addresses;
  // Its listeners are not programmed either, for the same reason (not for a bind error).
  markListenersPending(out, message, now);
  return out;
}

/** Every listener entry's Programmed becomes False/Pending with the given message. */
function markListenersPending(status: Record<string, unknown>, message: string, now: string): void {
  for (const l of (Array.isArray(status.listeners) ? status.listeners : []) as { conditions?: Condition[] }[]) {
    const c = l.conditions?.find((x) => x.type === 'Programmed');
    if (!c) continue;
    if (c.status !== 'False' || c.reason !== 'Pending' || c.message !== message) c.lastTransitionTime = now;
    Object.assign(c, { status: 'False', reason: 'Pending', message });
  }
}

/**
 * A ListenerSet is only as programmed as its parent (listenerset_types.go: Programmed=False,
 * ParentNotProgrammed). A parent that is merely Pending is left out: its sets wait for the same
 * generation and are Pending themselves. Under a parent without an address, nothing of the set
 * is bound either, so its entries are Pending with the parent's message.
 */
function propagateToListenerSets(statuses: readonly OwnedStatus[], now: string): OwnedStatus[] {
  const notProgrammed = new Map<string, Condition>();
  for (const s of statuses) {
    if (s.object.kind !== 'Gateway') continue;
    const c = conditionOf(s.status, 'Programmed');
    if (c && c.status === 'False' && c.reason !== 'Pending') notProgrammed.set(objectKey(s), c);
  }
  if (notProgrammed.size === 0) return statuses as OwnedStatus[];
  return statuses.map((s) => {
    if (s.object.kind !== 'ListenerSet') return s;
    const parent = parentGateway(s);
    const why = parent === undefined ? undefined : notProgrammed.get(`Gateway/${parent}`);
    if (!why || conditionOf(s.status, 'Programmed')?.status !== 'True') return s;
    const out = structuredClone(s.status);
    const message = `The parent Gateway ${parent} is not programmed (${why.reason}): ${why.message}`;
    downgrade(out.conditions as Condition[] | undefined, 'Programmed', 'ParentNotProgrammed', message, now);
    if (why.reason === 'AddressNotAssigned') markListenersPending(out, why.message, now);
    return { ...s, status: out };
  });
}

/** "ns/name" of a ListenerSet's parent Gateway (the namespace defaults to the set's own). */
function parentGateway(s: OwnedStatus): string | undefined {
  const spec = s.object.spec as { parentRef?: { name?: unknown; namespace?: unknown } } | undefined;
  const ref = spec?.parentRef;
  if (!ref || typeof ref.name !== 'string') return undefined;
  const ns = typeof ref.namespace === 'string' ? ref.namespace : s.object.metadata.namespace ?? 'default';
  return `${ns}/${ref.name}`;
}

function objectKey(s: OwnedStatus): string {
  return `${s.object.kind}/${s.object.metadata.namespace ?? 'default'}/${s.object.metadata.name}`;
}

function conditionOf(status: Record<string, unknown>, type: string): Condition | undefined {
  return Array.isArray(status.conditions) ? (status.conditions as Condition[]).find((c) => c.type === type) : undefined;
}

function gateOne(
  kind: 'Gateway' | 'ListenerSet',
  status: Record<string, unknown>,
  pending: boolean,
  generation: number,
  failed: Map<string, BindFailure> | undefined,
  liveListeners: number,
  now: string,
): Record<string, unknown> {
  const out = structuredClone(status);
  const pendingMessage = `Waiting for the data plane to program configuration generation ${generation}`;

  const listeners = Array.isArray(out.listeners) ? (out.listeners as { name?: string; conditions?: Condition[] }[]) : [];
  const notAccepted: string[] = [];
  for (const l of listeners) {
    const failure = l.name !== undefined ? failed?.get(l.name) : undefined;
    if (pending) {
      downgrade(l.conditions, 'Programmed', 'Pending', pendingMessage, now);
    } else if (failure) {
      // Gateway listeners have no PortUnavailable Programmed reason (gateway_types.go); entries do.
      const programmedReason = kind === 'ListenerSet' && failure.problem === 'port' ? 'PortUnavailable' : 'Invalid';
      downgrade(l.conditions, 'Programmed', programmedReason, failure.message, now);
      if (failure.problem === 'port' && downgrade(l.conditions, 'Accepted', 'PortUnavailable', failure.message, now)) notAccepted.push(l.name!);
    }
  }

  const conditions = out.conditions as Condition[] | undefined;
  if (pending) {
    downgrade(conditions, 'Programmed', 'Pending', pendingMessage, now);
    return out;
  }
  if (failed && failed.size >= liveListeners && liveListeners > 0) {
    const problems = new Set([...failed.values()].map((f) => f.problem));
    const message = `No listener could be bound: ${[...new Set([...failed.values()].map((f) => f.message))].join('; ')}`;
    downgrade(conditions, 'Programmed', objectReason(kind, problems), message, now);
  }
  // The object stays Accepted, but says which of its listeners are not (ListenersNotValid).
  const accepted = conditions?.find((c) => c.type === 'Accepted');
  if (notAccepted.length > 0 && accepted?.status === 'True' && accepted.reason === 'Accepted') {
    accepted.reason = 'ListenersNotValid';
    accepted.message = `Listeners whose port cannot be used: ${notAccepted.join(', ')}.`;
  }
  return out;
}

/** Programmed reason of a Gateway or ListenerSet none of whose listeners could be bound. */
function objectReason(kind: 'Gateway' | 'ListenerSet', problems: ReadonlySet<BindProblem>): string {
  if (kind === 'ListenerSet') return problems.has('port') ? 'PortUnavailable' : 'Invalid';
  // NoResources: "not scheduled because insufficient infrastructure resources are available".
  return problems.size === 1 && problems.has('resources') ? 'NoResources' : 'AddressNotUsable';
}

/** Sets a True condition of the given type to False with the given reason; leaves any other alone. */
function downgrade(conditions: Condition[] | undefined, type: string, reason: string, message: string, now: string): boolean {
  const c = conditions?.find((x) => x.type === type);
  if (!c || c.status !== 'True') return false;
  c.status = 'False';
  c.reason = reason;
  c.message = message;
  c.lastTransitionTime = now;
  return true;
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
      failures.get(owner)!.set(l.source.sectionName, { message: `Cannot listen on ${e.where}: ${e.message}`, problem: bindProblem(e.message) });
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
