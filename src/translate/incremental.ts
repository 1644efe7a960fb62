// The incremental translator's memory (createTranslator() in index.ts). translate() is a pure
// function of the snapshot; this cache only lets a translator skip work whose inputs are the
// same as in its previous run, so the output is byte for byte what a fresh translate() gives.
//
// Per route, what is remembered and when it is reused:
// - its RouteState and place in the precedence order, while the route object is unchanged
//   (the same instance, or an equal copy);
// - its compilation, while the object is unchanged and every backendRef resolves as before:
//   compilation reads the snapshot only through resolveBackendRef(), whose calls are recorded
//   with what they read (a Service and its EndpointSlices, ReferenceGrants of a namespace);
//   calls whose inputs did not change since the previous run are not redone;
// - its attachment (status.parents entries, listeners attached to, Gateways using its
//   backends), while the compilation is reused, the labels of its namespace are the same,
//   every parent it looked up has the same fingerprint (what judging a parentRef reads of it)
//   and, for HTTPRoutes and GRPCRoutes, the cross-serving rule gives the same outcome on every
//   listener it was judged on (it reads the routes attached before it);
// - its stamped status, while the attachment is reused and the caller's previous status for it
//   is the very object this cache produced last time (stamping it again would change nothing).
// Per listener, the IR virtual hosts / L4 routes, while its attachments are the same (ir.ts).
import type { KubeObject } from '../api/meta.ts';
import type { IRGateway } from '../ir/types.ts';
import { LABEL_SERVICE_NAME } from '../api/core.ts';
import type { Snapshot, SnapshotKind } from '../providers/snapshot.ts';
import type { OwnedStatus, TranslateResult } from './index.ts';
import type { AttachRecord, CompiledRoute, Parents } from './attach.ts';
import { addAttachment, attachRoute, crossServingLoss, removeAttachment } from './attach.ts';
import type { BackendCall, BackendRegistry } from './backends.ts';
import { resolveBackendRef, sameBackendResult } from './backends.ts';
import type { Context } from './context.ts';
import { gatewayAccepted, listenerAccepted } from './gateway.ts';
import type { ListenerMemo } from './ir.ts';
import { ROUTE_ORDER_INDEX } from './precedence.ts';
import type { GatewayState, ListenerSetState, ListenerState, RouteState } from './state.ts';
import { cmpStr, obj, sameJson, strMap } from './util.ts';

interface AttachMemo {
  rec: AttachRecord;
  /** The parents of rec.lookups, in order, and their versions when attachment was judged. */
  slots: Slot[];
  versions: number[];
  /** The route namespace's labels, and their version then. */
  nsSlot: Slot;
  nsVersion: number;
  /**
   * status.parents entries before stamping (never handed out: copied first). Dropped once the
   * route's status is handed out: a copy of that status, stamped again, gives the same bytes.
   */
  entries: Record<string, unknown>[] | undefined;
  /** Number of status.parents entries (0: Portico reports nothing for the route). */
  count: number;
}

export interface RouteMemo {
  state: RouteState;
  /** The route's key in its snapshot map ("namespace/name"). */
  mapKey: string;
  /** Run in which `owned` was handed out (put in the result). */
  emitted: number;
  /** Run in which the state was last used. */
  run: number;
  cr?: CompiledRoute;
  calls: BackendCall[];
  /** state.order when cr's precedence keys were last written. */
  order: number;
  attach?: AttachMemo;
  /** Whether attach() replayed `attach` in this run (instead of redoing it). */
  replayed: boolean;
  /** The route's status as last handed out (stamped), and the generation it was stamped with. */
  owned?: OwnedStatus;
  ownedGen?: number;
}

/**
 * What attachment reads of one parent (a Gateway or ListenerSet lookup) or of a namespace's
 * labels, refreshed once per run. `version` changes whenever the fingerprint does, so a memo
 * compares one number per parent, without any lookup by name.
 */
interface Slot {
  /** The parent lookup ("Gateway ns/name", "ListenerSet ns/name") or the namespace. */
  key: string;
  fp: string;
  version: number;
  run: number;
  /** Parents: the listeners a parentRef to it selects among. */
  listeners: ListenerState[];
}

/**
 * What the previous run decided, kept for a run whose snapshot differs from it in routes only
 * (runDelta, index.ts): that run starts from these states instead of building them again.
 */
export interface LastRun {
  snapshot: Snapshot;
  ctx: Context;
  /** The options a run depends on besides `now` and `previous`, as a string. */
  optionsKey: string;
  parents: Parents;
  gateways: GatewayState[];
  sets: ListenerSetState[];
  reg: BackendRegistry;
  result: TranslateResult;
  /** Each Gateway's IR (Gateways with a live listener). */
  gatewayIR: Map<GatewayState, IRGateway>;
  /** Backend id → how many routes' compilations resolve to it (counted when first needed). */
  backendRefs?: Map<string, number>;
}

/** Kinds whose objects resolveBackendRef() reads. */
const BACKEND_KINDS: SnapshotKind[] = ['Service', 'EndpointSlice', 'ReferenceGrant'];

export class TranslateCache {
  /** Route memos by kind, then by snapshot key. */
  private routes = new Map<string, Map<string, RouteMemo>>();
  /** Route memos by route object, so that an unchanged object is found without hashing its key. */
  private byObject = new WeakMap<KubeObject, RouteMemo>();
  private run = 0;
  /** Routes in precedence order, as of the previous run. */
  private order: RouteMemo[] = [];
  /** Routes in status key order, as of the previous run. */
  private keyOrder: RouteMemo[] = [];
  private controllerName: string | undefined;
  /** Backend-relevant objects of the previous run's snapshot; undefined: treat all as changed. */
  private backendObjects: Map<SnapshotKind, ReadonlyMap<string, KubeObject>> | undefined;
  private changedServices = new Set<string>();
  private changedGrants = new Set<string>();
  private parentSlots = new Map<string, Slot>();
  private nsSlots = new Map<string, Slot>();
  private ctx: Context | undefined;
  private parents: Parents | undefined;
  /** Listener IR pieces by listener id (ir.ts reads and refills it). */
  listeners = new Map<string, ListenerMemo>();
  /** Each Gateway's IR as last built (ir.ts fills it). */
  gatewayIR: Map<GatewayState, IRGateway> | undefined;
  /** The previous run's states, when it finished (index.ts sets it). */
  last: LastRun | undefined;

  /** Number of the current run. */
  get runNumber(): number {
    return this.run;
  }

  /** Starts a run. A different controller name changes every status entry: start afresh. */
  begin(ctx: Context): void {
    if (ctx.controllerName !== this.controllerName) {
      this.reset();
      this.controllerName = ctx.controllerName;
    }
    this.run++;
    this.ctx = ctx;
    // Slots not used in the previous run belong to no live memo that could still match.
    for (const slots of [this.parentSlots, this.nsSlots]) for (const [k, slot] of slots) if (slot.run < this.run - 1) slots.delete(k);
    this.diffBackendObjects(ctx.snapshot);
  }

  /** Forgets everything (also after a run that did not finish). */
  reset(): void {
    this.routes = new Map();
    this.byObject = new WeakMap();
    this.order = [];
    this.keyOrder = [];
    this.parentSlots = new Map();
    this.nsSlots = new Map();
    this.listeners = new Map();
    this.gatewayIR = undefined;
    this.last = undefined;
    this.backendObjects = undefined;
    this.controllerName = undefined;
  }

  /**
   * Every route of the snapshot in precedence order (oldest first, then namespace/name, then
   * kind), with `order` set. Unchanged routes keep their memo, RouteState and relative order, so
   * only new and changed ones are sorted, then merged in.
   */
  routeMemos(snapshot: Snapshot, kinds: readonly SnapshotKind[], fresh: (kind: SnapshotKind, o: KubeObject) => RouteState): RouteMemo[] {
    const run = this.run;
    const added: RouteMemo[] = [];
    for (const kind of kinds) {
      const objects = snapshot.objects.get(kind);
      let memos = this.routes.get(kind);
      if (!memos) this.routes.set(kind, (memos = new Map()));
      for (const [k, o] of objects ?? []) {
        // The same instance under the same key: unchanged (the common case, no key hashing).
        const known = this.byObject.get(o);
        if (known && known.run === run - 1 && known.mapKey === k && known.state.kind === kind) {
          known.run = run;
          continue;
        }
        if (typeof obj(o.metadata).name !== 'string') continue;
        const memo = memos.get(k);
        if (memo && memo.run === run - 1 && (memo.state.obj === o || sameJson(memo.state.obj, o))) {
          memo.state.obj = o;
          memo.run = run;
          this.byObject.set(o, memo);
          continue;
        }
        const m: RouteMemo = { state: fresh(kind, o), mapKey: k, emitted: 0, run, calls: [], order: -1, replayed: false };
        added.push(m);
        memos.set(k, m);
        this.byObject.set(o, m);
      }
    }
    // Gone or replaced routes leave the key map (unless a new memo took their key).
    for (const m of this.order) {
      if (m.run === run) continue;
      const memos = this.routes.get(m.state.kind);
      if (memos?.get(m.mapKey) === m) memos.delete(m.mapKey);
    }
    this.order = mergeKept(this.order, added, run, (a, b) => cmpRoutes(a.state, b.state));
    for (let i = 0; i < this.order.length; i++) this.order[i]!.state.order = i;
    this.keyOrder = mergeKept(this.keyOrder, added, run, (a, b) => cmpStr(a.state.key, b.state.key));
    return this.order;
  }

  /** A run that changes only some routes (runDelta): the context of this run; the run number stays. */
  beginDelta(ctx: Context, parents: Parents): void {
    this.ctx = ctx;
    this.parents = parents;
  }

  /** The memo of a route present in the previous run, by kind and snapshot key. */
  memoOf(kind: string, mapKey: string): RouteMemo | undefined {
    return this.routes.get(kind)?.get(mapKey);
  }

  /**
   * Takes a route out (runDelta): its attachments leave their listeners (added to `touched`), and
   * its memo leaves the precedence and key orders.
   */
  removeRoute(m: RouteMemo, touched: Set<ListenerState>): void {
    const a = m.attach;
    if (a) {
      for (const e of a.rec.effects) {
        const l = a.slots[e.parent]!.listeners[e.listener]!;
        removeAttachment(l, e.attachment);
        touched.add(l);
      }
    }
    const memos = this.routes.get(m.state.kind);
    if (memos?.get(m.mapKey) === m) memos.delete(m.mapKey);
    const i = search(this.order, (x) => x.state.order < m.state.order);
    const j = search(this.keyOrder, (x) => cmpStr(x.state.key, m.state.key) < 0);
    if (this.order[i] !== m || this.keyOrder[j] !== m) throw new Error(`incremental translator: ${m.state.key} is not where its order puts it`);
    this.order.splice(i, 1);
    this.keyOrder.splice(j, 1);
  }

  /**
   * Puts a new route in its place (runDelta): in precedence order, with an order number between
   * its neighbours' (only relative order matters: keys compare numbers), and in key order.
   * Undefined when there is no number left between the neighbours.
   */
  insertRoute(kind: SnapshotKind, mapKey: string, o: KubeObject, fresh: (kind: SnapshotKind, o: KubeObject) => RouteState): RouteMemo | undefined {
    const state = fresh(kind, o);
    const at = search(this.order, (x) => cmpRoutes(x.state, state) < 0);
    const lo = at > 0 ? this.order[at - 1]!.state.order : -1;
    const hi = at < this.order.length ? this.order[at]!.state.order : lo + 2;
    const order = (lo + hi) / 2;
    if (!(order > lo && order < hi)) return undefined;
    state.order = order;
    const m: RouteMemo = { state, mapKey, emitted: 0, run: this.run, calls: [], order: -1, replayed: false };
    this.order.splice(at, 0, m);
    this.keyOrder.splice(search(this.keyOrder, (x) => cmpStr(x.state.key, state.key) < 0), 0, m);
    let memos = this.routes.get(kind);
    if (!memos) this.routes.set(kind, (memos = new Map()));
    memos.set(mapKey, m);
    this.byObject.set(o, m);
    return m;
  }

  /** Every route memo of the previous run, in precedence order. */
  allRoutes(): readonly RouteMemo[] {
    return this.order;
  }

  /**
   * The statuses of the routes handed out in this run, sorted by key (the previous run's key
   * order, with new routes merged in: no full sort).
   */
  routeStatuses(): OwnedStatus[] {
    const out: OwnedStatus[] = [];
    for (const m of this.keyOrder) if (m.emitted === this.run && m.owned) out.push(m.owned);
    return out;
  }

  /** Compiles a route, or reuses its compilation. */
  compile(ctx: Context, reg: BackendRegistry, memo: RouteMemo, compile: (state: RouteState) => CompiledRoute): CompiledRoute {
    const state = memo.state;
    if (memo.cr && this.replayCalls(ctx, reg, memo.calls)) {
      if (memo.order !== state.order) {
        for (const e of memo.cr.http) e.key[ROUTE_ORDER_INDEX] = state.order;
        memo.order = state.order;
      }
      return memo.cr;
    }
    memo.cr = undefined;
    memo.attach = undefined;
    memo.owned = undefined;
    reg.record = [];
    try {
      memo.cr = compile(state);
      memo.calls = reg.record.slice();
      const cr = memo.cr;
      // Kept for as long as the route is unchanged: without the spare capacity growth left.
      cr.http = cr.http.slice();
      cr.l4 = cr.l4.slice();
      cr.backendIds = cr.backendIds.slice();
      memo.order = state.order;
    } finally {
      reg.record = undefined;
    }
    return memo.cr;
  }

  /**
   * Attaches a route compiled by compile() in this run, or replays its previous attachment.
   * The status.parents entries are parentEntries(memo) (copy them with copyEntry to stamp).
   */
  attach(ctx: Context, parents: Parents, reg: BackendRegistry, m: RouteMemo): RouteMemo {
    const state = m.state;
    const cr = m.cr!;
    this.parents = parents;
    const a = m.attach;
    if (a && this.fresh(a.nsSlot, true).version === a.nsVersion && this.sameParents(a) && this.sameCross(a, state)) {
      for (const g of a.rec.uses) reg.useAll(cr.backendIds, g);
      for (const e of a.rec.effects) addAttachment(a.slots[e.parent]!.listeners[e.listener]!, e.attachment);
      m.replayed = true;
      return m;
    }
    m.attach = undefined;
    m.owned = undefined;
    m.replayed = false;
    const rec: AttachRecord = { lookups: [], effects: [], uses: [], cross: [] };
    const entries = attachRoute(ctx, parents, reg, cr, rec);
    const kept: AttachRecord = {
      lookups: rec.lookups.slice(), effects: rec.effects.slice(), uses: rec.uses.slice(), cross: rec.cross.slice(),
    };
    const slots = kept.lookups.map((k) => this.slot(this.parentSlots, k, false));
    const nsSlot = this.slot(this.nsSlots, state.namespace, true);
    m.attach = {
      rec: kept, slots, versions: slots.map((sl) => sl.version), nsSlot, nsVersion: nsSlot.version, entries, count: entries.length,
    };
    return m;
  }

  /**
   * Whether the HTTPRoute/GRPCRoute cross-serving rule (attach.ts) decides as before: it reads
   * the routes attached earlier in this run, which may have changed even when the parents did not.
   */
  private sameCross(a: AttachMemo, route: RouteState): boolean {
    for (const c of a.rec.cross) {
      if (crossServingLoss(a.slots[c.parent]!.listeners[c.listener]!, route, c.hosts) !== c.loss) return false;
    }
    return true;
  }

  private sameParents(a: AttachMemo): boolean {
    for (let i = 0; i < a.slots.length; i++) if (this.fresh(a.slots[i]!, false).version !== a.versions[i]) return false;
    return true;
  }

  /** The slot of a parent lookup ("Gateway ns/name") or a namespace, refreshed for this run. */
  private slot(slots: Map<string, Slot>, key: string, namespace: boolean): Slot {
    let sl = slots.get(key);
    if (!sl) {
      sl = { key, fp: '', version: 0, run: 0, listeners: [] };
      slots.set(key, sl);
    }
    return this.fresh(sl, namespace);
  }

  private fresh(sl: Slot, namespace: boolean): Slot {
    if (sl.run === this.run) return sl;
    const { fp, listeners } = namespace ? { fp: JSON.stringify(this.ctx!.namespaceLabels(sl.key)), listeners: [] } : this.view(sl.key);
    if (fp !== sl.fp) {
      sl.fp = fp;
      sl.version++;
    }
    sl.listeners = listeners;
    sl.run = this.run;
    return sl;
  }

  /** What judging a parentRef reads of a parent, as a string, and its listeners. */
  private view(lookup: string): { fp: string; listeners: ListenerState[] } {
    const parents = this.parents!;
    const space = lookup.indexOf(' ');
    const nsName = lookup.slice(space + 1);
    if (lookup.slice(0, space) === 'Gateway') {
      const gw = parents.gateways.get(nsName);
      return gw ? { fp: JSON.stringify([gatewayAccepted(gw), gw.listeners.map(listenerFp)]), listeners: gw.listeners } : { fp: '-', listeners: [] };
    }
    const set = parents.listenerSets.get(nsName);
    const listeners = set && !set.problem ? set.listeners : [];
    return set ? {
      fp: JSON.stringify([gatewayAccepted(set.gateway), set.gateway.namespace, set.gateway.name, set.problem !== undefined, listeners.map(listenerFp)]),
      listeners,
    } : { fp: '-', listeners: [] };
  }

  /**
   * Replays recorded backend resolutions. A call whose inputs did not change since the previous
   * run is skipped (once its backend is registered in this run); the others are redone and
   * must give the recorded result. True when the compilation still holds.
   */
  private replayCalls(ctx: Context, reg: BackendRegistry, calls: BackendCall[]): boolean {
    const all = this.backendObjects === undefined;
    const services = this.changedServices.size > 0 ? this.changedServices : undefined;
    const grants = this.changedGrants.size > 0 ? this.changedGrants : undefined;
    for (const c of calls) {
      const d = c.deps;
      const r = c.result;
      const unchanged = !all && (services === undefined || d.service === undefined || !services.has(d.service))
        && (grants === undefined || d.grantsIn === undefined || !grants.has(d.grantsIn));
      if (unchanged) {
        if (!r.ok) continue;
        if (c.backend) {
          // Same Service and EndpointSlices: the cluster built last time still holds.
          reg.add(c.backend, r.namespace, r.service, r.portName);
          continue;
        }
      }
      if (!sameBackendResult(resolveBackendRef(ctx, reg, c.fromKind, c.fromNs, c.ref, c.use), r)) return false;
      if (r.ok) c.backend = reg.backends.get(r.id);
    }
    return true;
  }

  /** Services (with their EndpointSlices) and namespaces of ReferenceGrants changed since the previous run. */
  private diffBackendObjects(snapshot: Snapshot): void {
    const before = this.backendObjects;
    this.changedServices = new Set();
    this.changedGrants = new Set();
    const now = new Map<SnapshotKind, ReadonlyMap<string, KubeObject>>();
    for (const kind of BACKEND_KINDS) now.set(kind, snapshot.objects.get(kind) ?? new Map());
    this.backendObjects = now;
    if (!before) return;
    const mark = (kind: SnapshotKind, key: string, o: KubeObject | undefined): void => {
      if (!o) return;
      if (kind === 'Service') this.changedServices.add(key);
      else if (kind === 'ReferenceGrant') this.changedGrants.add(o.metadata.namespace ?? 'default');
      else {
        const svc = strMap(o.metadata.labels)[LABEL_SERVICE_NAME];
        if (svc) this.changedServices.add(`${o.metadata.namespace}/${svc}`);
      }
    };
    for (const kind of BACKEND_KINDS) {
      const a = before.get(kind)!;
      const b = now.get(kind)!;
      if (a === b) continue;
      for (const [k, o] of b) {
        const p = a.get(k);
        if (p === o || (p !== undefined && sameJson(p, o))) continue;
        mark(kind, k, o);
        mark(kind, k, p);
      }
      for (const [k, p] of a) if (!b.has(k)) mark(kind, k, p);
    }
  }
}

/** The first index of a sorted list where `below` no longer holds. */
function search<T>(list: readonly T[], below: (x: T) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (below(list[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The memos of `before` still present in this run (same order) merged with `added` (sorted here
 * by `cmp`): `before` was sorted by `cmp` and a present memo's sort key did not change.
 */
function mergeKept(before: RouteMemo[], added: RouteMemo[], run: number, cmp: (a: RouteMemo, b: RouteMemo) => number): RouteMemo[] {
  const fresh = [...added].sort(cmp);
  const out: RouteMemo[] = [];
  let j = 0;
  for (const m of before) {
    if (m.run !== run) continue;
    while (j < fresh.length && cmp(fresh[j]!, m) < 0) out.push(fresh[j++]!);
    out.push(m);
  }
  while (j < fresh.length) out.push(fresh[j++]!);
  return out;
}

/** Precedence tie-break between routes: oldest first, then namespace/name, then kind. */
export function cmpRoutes(a: RouteState, b: RouteState): number {
  return cmpStr(a.created, b.created) || cmpStr(a.nsName, b.nsName) || cmpStr(a.kind, b.kind);
}

/** The fields of a listener that attachment reads (attach.ts judgeParent / allowsNamespace). */
function listenerFp(l: ListenerState): unknown[] {
  const a = l.allowedNamespaces;
  return [
    l.name, l.port, listenerAccepted(l), l.supportedKinds, a.from, a.from === 'Selector' ? a.selector ?? null : null,
    l.owner.metadata.namespace ?? 'default', l.hostname ?? null,
  ];
}

/**
 * A route's status.parents entries as attachment made them, or as last handed out (stamping
 * overwrites every lastTransitionTime and observedGeneration and sorts the conditions, so both
 * stamp to the same bytes).
 */
export function parentEntries(m: RouteMemo): Record<string, unknown>[] {
  return m.attach?.entries ?? (m.owned?.status.parents as Record<string, unknown>[] | undefined) ?? [];
}

/** A status.parents entry with its own condition objects (stamping writes into them). */
export function copyEntry(e: Record<string, unknown>): Record<string, unknown> {
  return { ...e, conditions: (e.conditions as Record<string, unknown>[]).map((c) => ({ ...c })) };
}
