// Merging Portico's status into the status an object has in the cluster, touching only what is
// Portico's (gateway-api-spec §2.1):
//   - GatewayClass, Gateway, ListenerSet: the condition types Portico sets (others' types are
//     kept, in place) and the fields Portico fills (listeners, addresses, supportedFeatures, ...);
//   - routes: status.parents entries whose controllerName is ours; policies: status.ancestors
//     entries likewise. Entries of other controllers are kept untouched and in order.
// lastTransitionTime is kept from the cluster when a condition's status did not change, so a
// restart or a new leader does not rewrite every condition. Pure functions, no I/O.
import type { Condition } from '../../api/meta.ts';

type Status = Record<string, unknown>;

/** Condition types Portico sets on its own objects; a type Portico stops setting is removed. */
export const OWN_CONDITION_TYPES: Readonly<Record<string, readonly string[]>> = {
  GatewayClass: ['Accepted', 'SupportedVersion'],
  Gateway: ['Accepted', 'Programmed', 'ResolvedRefs', 'InsecureFrontendValidationMode'],
  ListenerSet: ['Accepted', 'Programmed'],
};

/** Status fields besides conditions that Portico fills on its own objects. */
const OWN_FIELDS: Readonly<Record<string, readonly string[]>> = {
  GatewayClass: ['supportedFeatures'],
  Gateway: ['addresses', 'listeners', 'attachedListenerSets'],
  ListenerSet: ['listeners'],
};

const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute']);
const POLICY_KINDS = new Set(['BackendTLSPolicy', 'XBackendTrafficPolicy']);

/** The status list holding per-controller entries ("parents" / "ancestors"), if the kind has one. */
export function entryField(kind: string): { list: 'parents' | 'ancestors'; ref: 'parentRef' | 'ancestorRef' } | undefined {
  if (ROUTE_KINDS.has(kind)) return { list: 'parents', ref: 'parentRef' };
  if (POLICY_KINDS.has(kind)) return { list: 'ancestors', ref: 'ancestorRef' };
  return undefined;
}

/** Whether Portico writes status for this kind at all. */
export function isStatusKind(kind: string): boolean {
  return kind in OWN_CONDITION_TYPES || entryField(kind) !== undefined;
}

/**
 * The status to write: `current` (as in the cluster) with Portico's part replaced by `desired`.
 * `generation` (metadata.generation of the object translate saw) fills any observedGeneration
 * that desired leaves out.
 */
export function mergeStatus(kind: string, current: unknown, desired: Status, controllerName: string, generation?: number): Status {
  const cur: Status = isRecord(current) ? structuredClone(current) : {};
  const want = structuredClone(desired);
  fillObservedGeneration(want, generation);
  const entries = entryField(kind);
  if (entries) {
    const theirs = asArray(cur[entries.list]).filter((e) => !isOwnEntry(e, controllerName));
    const mine = asArray(want[entries.list]).map((e) => {
      const before = asArray(cur[entries.list]).find((c) => isOwnEntry(c, controllerName) && isRecord(c) && isRecord(e) && sameRef(c[entries.ref], e[entries.ref]));
      if (isRecord(e) && isRecord(before)) e.conditions = keepTransitionTimes(asArray(e.conditions) as Condition[], asArray(before.conditions) as Condition[]);
      return e;
    });
    const out: Status = { ...cur, [entries.list]: [...theirs, ...mine] };
    for (const [k, v] of Object.entries(want)) if (k !== entries.list) out[k] = v;
    return out;
  }
  const ownTypes = new Set([...(OWN_CONDITION_TYPES[kind] ?? []), ...asArray(want.conditions).map((c) => (c as Condition).type)]);
  const out: Status = { ...cur };
  out.conditions = mergeConditions(asArray(cur.conditions) as Condition[], asArray(want.conditions) as Condition[], ownTypes);
  for (const field of OWN_FIELDS[kind] ?? []) if (!(field in want)) delete out[field];
  for (const [k, v] of Object.entries(want)) {
    if (k === 'conditions') continue;
    out[k] = k === 'listeners' ? keepListenerTimes(asArray(v), asArray(cur.listeners)) : v;
  }
  return out;
}

/** The status with Portico's parents/ancestors entries removed (a route no longer in scope). */
export function removeOwnEntries(kind: string, current: unknown, controllerName: string): Status | undefined {
  const entries = entryField(kind);
  if (!entries || !isRecord(current)) return undefined;
  const list = asArray(current[entries.list]);
  const kept = list.filter((e) => !isOwnEntry(e, controllerName));
  if (kept.length === list.length) return undefined;
  return { ...structuredClone(current), [entries.list]: structuredClone(kept) };
}

/** Whether any of Portico's entries is present (routes, policies). */
export function hasOwnEntries(kind: string, current: unknown, controllerName: string): boolean {
  const entries = entryField(kind);
  return !!entries && isRecord(current) && asArray(current[entries.list]).some((e) => isOwnEntry(e, controllerName));
}

/**
 * Whether writing `merged` would change what the cluster holds. Fields the API server defaults
 * (and Portico leaves out) must not count as changes, or every comparison would ask for a write:
 * so `merged` only has to be contained in `current`, with lists of equal length (a removed entry
 * or condition is a change) and no top-level status field that `merged` dropped.
 */
export function statusDiffers(merged: Status, current: unknown): boolean {
  if (!isRecord(current)) return true;
  for (const k of Object.keys(current)) if (!(k in merged)) return true;
  return !contained(merged, current);
}

function contained(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => contained(x, b[i]));
  if (isRecord(a)) {
    if (!isRecord(b)) return false;
    return Object.entries(a).every(([k, v]) => v === undefined || contained(v, b[k]));
  }
  return false;
}

function mergeConditions(current: Condition[], desired: Condition[], ownTypes: Set<string>): Condition[] {
  const wanted = new Map(keepTransitionTimes(desired, current).map((c) => [c.type, c]));
  const out: Condition[] = [];
  for (const c of current) {
    if (!ownTypes.has(c.type)) out.push(c);
    else if (wanted.has(c.type)) {
      out.push(wanted.get(c.type)!);
      wanted.delete(c.type);
    }
  }
  return [...out, ...wanted.values()];
}

/** Desired conditions, each keeping the cluster's lastTransitionTime if its status is unchanged. */
function keepTransitionTimes(desired: Condition[], current: Condition[]): Condition[] {
  return desired.map((d) => {
    const before = current.find((c) => isRecord(c) && c.type === d.type);
    return before && before.status === d.status && before.lastTransitionTime
      ? { ...d, lastTransitionTime: before.lastTransitionTime }
      : d;
  });
}

function keepListenerTimes(desired: unknown[], current: unknown[]): unknown[] {
  return desired.map((l) => {
    if (!isRecord(l)) return l;
    const before = current.find((c) => isRecord(c) && c.name === l.name);
    if (!isRecord(before)) return l;
    return { ...l, conditions: keepTransitionTimes(asArray(l.conditions) as Condition[], asArray(before.conditions) as Condition[]) };
  });
}

/** Sets observedGeneration on every condition (top level, listeners, entries) that lacks it. */
function fillObservedGeneration(status: Status, generation: number | undefined): void {
  if (generation === undefined) return;
  const fill = (conds: unknown): void => {
    for (const c of asArray(conds)) if (isRecord(c) && c.observedGeneration === undefined) c.observedGeneration = generation;
  };
  fill(status.conditions);
  for (const field of ['listeners', 'parents', 'ancestors']) {
    for (const e of asArray(status[field])) if (isRecord(e)) fill(e.conditions);
  }
}

function isOwnEntry(e: unknown, controllerName: string): boolean {
  return isRecord(e) && e.controllerName === controllerName;
}

/** parentRef / ancestorRef equality, with the API server's defaults for group and kind. */
function sameRef(a: unknown, b: unknown): boolean {
  if (!isRecord(a) || !isRecord(b)) return false;
  const norm = (r: Status) => JSON.stringify([
    r.group ?? 'gateway.networking.k8s.io', r.kind ?? 'Gateway', r.namespace ?? '', r.name, r.sectionName ?? '', r.port ?? '',
  ]);
  return norm(a) === norm(b);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function isRecord(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
