// Status of objects refused by validation (file mode: Snapshot.rejected). In Kubernetes mode the
// API server refuses them and the user sees the error at `kubectl apply`; in file mode nobody
// would, so each refused object Portico owns status for gets a status saying what is wrong:
//   GatewayClass (ours)                  Accepted=False InvalidParameters
//   Gateway (class ours)                 Accepted=False Invalid, Programmed=False Invalid
//   ListenerSet (parent Gateway ours)    Accepted=False Invalid, Programmed=False Invalid
//   routes                               per parentRef to one of our Gateways/ListenerSets:
//                                        Accepted=False UnsupportedValue
//   BackendTLSPolicy, XBackendTrafficPolicy  per ancestor Gateway: Accepted=False Invalid
// The message names every field path and problem, and whether an earlier valid version keeps
// serving. That status replaces the one translate() computed for the earlier version: status
// describes the object as it is now. Pure: no I/O, time passed in.
import { GatewayClassReason, GatewayReason, ListenerSetReason, PolicyReason, RouteReason } from '../api/conditions.ts';
import type { Condition, KubeObject } from '../api/meta.ts';
import { CONTROLLER_NAME } from '../api/meta.ts';
import type { IR } from '../ir/types.ts';
import type { RejectedObject, Snapshot } from '../providers/snapshot.ts';
import { stampStatus } from '../translate/conditions.ts';
import type { OwnedStatus } from '../translate/index.ts';

const GROUP = 'gateway.networking.k8s.io';
const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute']);
const POLICY_KINDS = new Set(['BackendTLSPolicy', 'XBackendTrafficPolicy']);
/** Condition messages are limited to 32768 characters by the API. */
const MAX_MESSAGE = 32768;

export interface RejectedStatusOptions {
  /** RFC 3339 time stamped on conditions that change. */
  now: string;
  /** Defaults to CONTROLLER_NAME. */
  controllerName?: string;
  /** Statuses last reported, by key: lastTransitionTime is kept when a condition did not change. */
  previous?: ReadonlyMap<string, unknown>;
  /** The IR of the same translation: which Gateways use which Services (for policies). */
  ir?: IR;
}

/**
 * translate()'s statuses (sorted by key) with an entry for each rejected object Portico owns
 * status for, replacing the entry of its serving version if any. Sorted by key. Returns the
 * given list itself when the snapshot rejected nothing.
 */
export function addRejectedStatuses(
  statuses: readonly OwnedStatus[],
  snapshot: Snapshot,
  options: RejectedStatusOptions,
): readonly OwnedStatus[] {
  const rejected = snapshot.rejected ?? [];
  if (rejected.length === 0) return statuses;
  const controllerName = options.controllerName ?? CONTROLLER_NAME;
  const owners = findOwners(snapshot, controllerName);
  const added = new Map<string, OwnedStatus>();
  for (const r of rejected) {
    const key = keyOf(r.object);
    let status: Record<string, unknown> | undefined;
    try {
      status = statusOf(r, owners, controllerName, () => findSorted(statuses, key), options.ir);
    } catch {
      status = undefined; // defensive: a malformed object gets no status rather than a crash
    }
    if (!status) continue;
    stampStatus(status, options.previous?.get(key), generationOf(r.object), options.now);
    added.set(key, { key, object: r.object, status });
  }
  if (added.size === 0) return statuses;
  // Both lists sorted by key, merged (translate's may hold tens of thousands of routes).
  const extra = [...added.values()].sort((x, y) => cmp(x.key, y.key));
  const out: OwnedStatus[] = [];
  let j = 0;
  for (const s of statuses) {
    while (j < extra.length && cmp(extra[j]!.key, s.key) < 0) out.push(extra[j++]!);
    if (!added.has(s.key)) out.push(s);
  }
  while (j < extra.length) out.push(extra[j++]!);
  return out;
}

/** The status with this key in a list sorted by key (binary search). */
function findSorted(statuses: readonly OwnedStatus[], key: string): OwnedStatus | undefined {
  let lo = 0;
  let hi = statuses.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(statuses[mid]!.key, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return statuses[lo]?.key === key ? statuses[lo] : undefined;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The message of every condition of a rejected object. */
export function rejectionMessage(r: RejectedObject): string {
  const problems = r.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
  const tail = r.servingGeneration !== undefined
    ? `the previous valid version (generation ${r.servingGeneration}) keeps serving`
    : 'nothing is served for this object';
  const message = `rejected as the API server would: ${problems}; ${tail}`;
  if (message.length <= MAX_MESSAGE) return message;
  return `${message.slice(0, MAX_MESSAGE - tail.length - 6)} …; ${tail}`;
}

interface Owners {
  /** Names of our GatewayClasses. */
  classes: Set<string>;
  /** "ns/name" of Gateways of our classes. */
  gateways: Set<string>;
  /** "ns/name" of ListenerSets whose parent is one of our Gateways. */
  listenerSets: Set<string>;
}

/** Our parents, among admitted and rejected objects alike (a rejected Gateway still owns its routes' status). */
function findOwners(snapshot: Snapshot, controllerName: string): Owners {
  const all = (kind: 'GatewayClass' | 'Gateway' | 'ListenerSet'): KubeObject[] => [
    ...(snapshot.objects.get(kind)?.values() ?? []),
    ...(snapshot.rejected ?? []).map((r) => r.object).filter((o) => o.kind === kind),
  ];
  const classes = new Set<string>();
  for (const c of all('GatewayClass')) if (spec(c).controllerName === controllerName) classes.add(c.metadata.name);
  const gateways = new Set<string>();
  for (const g of all('Gateway')) {
    const cls = spec(g).gatewayClassName;
    if (typeof cls === 'string' && classes.has(cls)) gateways.add(nsName(g));
  }
  const listenerSets = new Set<string>();
  for (const s of all('ListenerSet')) if (listenerSetParentIsOurs(s, gateways)) listenerSets.add(nsName(s));
  return { classes, gateways, listenerSets };
}

function listenerSetParentIsOurs(set: KubeObject, gateways: Set<string>): boolean {
  const ref = record(spec(set).parentRef);
  if ((str(ref.group) ?? GROUP) !== GROUP || (str(ref.kind) ?? 'Gateway') !== 'Gateway') return false;
  return gateways.has(`${str(ref.namespace) ?? namespaceOf(set)}/${str(ref.name) ?? ''}`);
}

function statusOf(
  r: RejectedObject, owners: Owners, controllerName: string, serving: () => OwnedStatus | undefined, ir: IR | undefined,
): Record<string, unknown> | undefined {
  const o = r.object;
  const message = rejectionMessage(r);
  if (o.kind === 'GatewayClass') {
    if (spec(o).controllerName !== controllerName) return undefined;
    return { conditions: [cond('Accepted', GatewayClassReason.InvalidParameters, message)] };
  }
  if (o.kind === 'Gateway') {
    if (!owners.gateways.has(nsName(o))) return undefined;
    return { conditions: [cond('Accepted', GatewayReason.Invalid, message), cond('Programmed', GatewayReason.Invalid, message)] };
  }
  if (o.kind === 'ListenerSet') {
    if (!owners.listenerSets.has(nsName(o))) return undefined;
    return { conditions: [cond('Accepted', ListenerSetReason.Invalid, message), cond('Programmed', ListenerSetReason.Invalid, message)] };
  }
  if (ROUTE_KINDS.has(o.kind)) {
    const parents = ourParentRefs(o, owners).map((parentRef) => ({
      parentRef, controllerName, conditions: [cond('Accepted', RouteReason.UnsupportedValue, message)],
    }));
    return parents.length > 0 ? { parents } : undefined;
  }
  if (POLICY_KINDS.has(o.kind)) {
    const ancestors = ancestorRefs(o, serving(), ir).map((ancestorRef) => ({
      ancestorRef, controllerName, conditions: [cond('Accepted', PolicyReason.Invalid, message)],
    }));
    return ancestors.length > 0 ? { ancestors } : undefined;
  }
  return undefined;
}

/** The route's parentRefs that name one of our Gateways or ListenerSets, as the API server stores them, without duplicates. */
function ourParentRefs(route: KubeObject, owners: Owners): Record<string, unknown>[] {
  const refs = spec(route).parentRefs;
  if (!Array.isArray(refs)) return [];
  const out: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  for (const raw of refs) {
    const ref = record(raw);
    const group = str(ref.group) ?? GROUP;
    const kind = str(ref.kind) ?? 'Gateway';
    const target = `${str(ref.namespace) ?? namespaceOf(route)}/${str(ref.name) ?? ''}`;
    if (group !== GROUP) continue;
    if (!(kind === 'Gateway' ? owners.gateways : kind === 'ListenerSet' ? owners.listenerSets : undefined)?.has(target)) continue;
    const parentRef: Record<string, unknown> = { group, kind };
    for (const k of ['namespace', 'name', 'sectionName', 'port']) if (ref[k] !== undefined) parentRef[k] = ref[k];
    const id = JSON.stringify(parentRef);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(parentRef);
  }
  return out;
}

/**
 * A policy's ancestors: those of the version serving, or else every Gateway of the IR whose
 * routes use one of the Services the policy targets.
 */
function ancestorRefs(policy: KubeObject, serving: OwnedStatus | undefined, ir: IR | undefined): Record<string, unknown>[] {
  const previous = serving?.status.ancestors;
  if (Array.isArray(previous) && previous.length > 0) return previous.map((a) => ({ ...record(record(a).ancestorRef) }));
  if (!ir) return [];
  const targets = new Set<string>();
  const refs = spec(policy).targetRefs;
  for (const raw of Array.isArray(refs) ? refs : []) {
    const t = record(raw);
    if ((str(t.group) ?? '') === '' && str(t.kind) === 'Service') targets.add(`${namespaceOf(policy)}/${str(t.name) ?? ''}`);
  }
  const out: Record<string, unknown>[] = [];
  for (const gw of ir.gateways) {
    const ids = new Set<string>();
    collectBackendIds(gw, ids);
    const uses = [...ids].some((id) => {
      const src = ir.backends[id]?.source;
      return src !== undefined && src.kind === 'Service' && targets.has(`${src.namespace ?? 'default'}/${src.name}`);
    });
    if (uses) out.push({ group: GROUP, kind: 'Gateway', namespace: gw.source.namespace ?? 'default', name: gw.source.name });
  }
  return out;
}

/** Every backendId anywhere under an IR node (routes, mirrors, filters alike). */
function collectBackendIds(node: unknown, out: Set<string>): void {
  if (Array.isArray(node)) {
    for (const x of node) collectBackendIds(x, out);
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'backendId' && typeof v === 'string') out.add(v);
      else if (typeof v === 'object') collectBackendIds(v, out);
    }
  }
}

function cond(type: string, reason: string, message: string): Condition {
  return { type, status: 'False', reason, message, lastTransitionTime: '' };
}

function keyOf(o: KubeObject): string {
  return o.kind === 'GatewayClass' || o.kind === 'Namespace' || o.metadata.namespace === undefined
    ? `${o.kind}/${o.metadata.name}` : `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
}

function generationOf(o: KubeObject): number | undefined {
  return typeof o.metadata.generation === 'number' ? o.metadata.generation : undefined;
}

function namespaceOf(o: KubeObject): string {
  return o.metadata.namespace ?? 'default';
}

function nsName(o: KubeObject): string {
  return `${namespaceOf(o)}/${o.metadata.name}`;
}

function spec(o: KubeObject): Record<string, unknown> {
  return record(o.spec);
}

function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
