// translate(): snapshot in, status + IR out. Pure and deterministic: no I/O, no clock
// (the time used for lastTransitionTime is passed in), same snapshot → same bytes out.
//
// Order of work: GatewayClasses → Gateways and their listeners → ListenerSets → listener
// conflicts over the merged lists → routes (compiled once, then attached per parentRef) →
// BackendTLSPolicies and XBackendTrafficPolicies (which need to know which Gateways use which
// Services) → IR → status.
import type { KubeObject } from '../api/meta.ts';
import type { IR, IRGateway } from '../ir/types.ts';
import type { Snapshot, SnapshotKind } from '../providers/snapshot.ts';
import { attachRoute } from './attach.ts';
import type { CompiledRoute, Parents } from './attach.ts';
import { BackendRegistry } from './backends.ts';
import { stampStatus } from './conditions.ts';
import { resolveConflicts } from './conflicts.ts';
import { Context, keyOf } from './context.ts';
import { buildGateways, gatewayStatus } from './gateway.ts';
import { translateGatewayClasses } from './gatewayclass.ts';
import { compileGRPCRoute } from './grpcroute.ts';
import { compileHTTPRoute } from './httproute.ts';
import { TranslateCache, cmpRoutes, copyEntry, parentEntries } from './incremental.ts';
import type { RouteMemo } from './incremental.ts';
import { buildGatewayIR, buildIR } from './ir.ts';
import { compileL4Route } from './l4.ts';
import { buildListenerSets, listenerSetStatus } from './listenerset.ts';
import { translateBackendTLSPolicies } from './policies/backendtls.ts';
import { translateBackendTrafficPolicies } from './policies/backendtraffic.ts';
import type { GatewayState, ListenerSetState, ListenerState, RouteState } from './state.ts';
import { cmpStr, createdAt, generation, obj } from './util.ts';

export interface TranslateOptions {
  /** RFC 3339 time stamped on conditions that change (lastTransitionTime). */
  now: string;
  /** Defaults to CONTROLLER_NAME. */
  controllerName?: string;
  /**
   * Status of the previous translation, so that lastTransitionTime is kept when a
   * condition's status did not change. Keyed like TranslateResult.statuses.
   */
  previous?: ReadonlyMap<string, unknown>;
  /**
   * The caller vouches that `previous` holds exactly the statuses of the last result this
   * translator (createTranslator) returned, as the run loop passes them: a translation that
   * reuses statuses then need not check every one of them. Ignored by translate().
   */
  previousIsLast?: boolean;
  /**
   * Addresses reported in Gateway status.addresses when the Gateway has no spec.addresses of
   * type IPAddress (the data plane's bind address). Default: none.
   */
  defaultAddresses?: string[];
  /**
   * IP addresses this host can bind. When given, a Gateway spec address outside this list
   * (and not 0.0.0.0 / ::) makes the Gateway Programmed=False / AddressNotUsable.
   */
  localAddresses?: string[];
}

/** An object Portico owns status for, with the status Portico computed for it. */
export interface OwnedStatus {
  /** "Kind/namespace/name" or "Kind/name" for cluster-scoped kinds. */
  key: string;
  object: KubeObject;
  /** The full status as Portico would write it (for routes/policies: Portico's own parents/ancestors only). */
  status: Record<string, unknown>;
}

export interface TranslateResult {
  /** Sorted by key. */
  statuses: OwnedStatus[];
  ir: IR;
  /** Human-readable notes about objects ignored or rejected (also reflected in status). */
  diagnostics: { object: string; message: string }[];
}

const ROUTE_KINDS: SnapshotKind[] = ['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute'];

/** A translator that remembers its previous run, so that the next one redoes only what changed. */
export interface Translator {
  /** Same result, byte for byte, as translate(snapshot, options). */
  translate(snapshot: Snapshot, options: TranslateOptions): TranslateResult;
}

/**
 * An incremental translator for a stream of snapshots (the run loop): work whose inputs did not
 * change since its previous call is reused (incremental.ts). Objects of a snapshot must not be
 * mutated once handed over; unchanged objects should be the same instances from one snapshot
 * to the next (equal copies work too, at the cost of a deep comparison).
 */
export function createTranslator(): Translator {
  const cache = new TranslateCache();
  return {
    translate: (snapshot, options) => {
      try {
        const result = runDelta(snapshot, options, cache);
        if (result) return result;
      } catch {
        // A delta run that went wrong may have left the cache half updated: start afresh.
        cache.reset();
      }
      try {
        return run(snapshot, options, cache);
      } catch (e) {
        // The cache may be half updated: forget it rather than trust it next time.
        cache.reset();
        throw e;
      }
    },
  };
}

export function translate(snapshot: Snapshot, options: TranslateOptions): TranslateResult {
  return run(snapshot, options, undefined);
}

function run(snapshot: Snapshot, options: TranslateOptions, cache: TranslateCache | undefined): TranslateResult {
  const ctx = new Context(snapshot, options);
  const statuses: OwnedStatus[] = [];
  const emit = (object: KubeObject, status: Record<string, unknown>, key = keyOf(object)): OwnedStatus => {
    stampStatus(status, options.previous?.get(key), generation(object.metadata), options.now);
    const owned = { key, object, status };
    statuses.push(owned);
    return owned;
  };

  const classes = translateGatewayClasses(ctx);
  const gateways = buildGateways(ctx, classes);
  const gwByKey = new Map<string, GatewayState>(gateways.map((g) => [`${g.namespace}/${g.name}`, g]));
  const sets = buildListenerSets(ctx, gwByKey);
  for (const gw of gateways) {
    resolveConflicts([gw.listeners, ...gw.listenerSets.filter((s) => !s.problem).map((s) => s.listeners)]);
  }
  const setByKey = new Map<string, ListenerSetState>(sets.map((s) => [`${s.namespace}/${s.name}`, s]));
  const parents: Parents = { gateways: gwByKey, listenerSets: setByKey };

  const reg = new BackendRegistry();
  // Which Gateways use which backends only matters to policies (their status ancestors).
  reg.tracksUses = ctx.list('BackendTLSPolicy').length > 0 || ctx.list('XBackendTrafficPolicy').length > 0;
  const compile = (state: RouteState): CompiledRoute => (state.kind === 'HTTPRoute' ? compileHTTPRoute(ctx, reg, state)
    : state.kind === 'GRPCRoute' ? compileGRPCRoute(ctx, reg, state)
      : compileL4Route(ctx, reg, state));
  if (cache) {
    cache.begin(ctx);
    for (const m of cache.routeMemos(snapshot, ROUTE_KINDS, newRouteState)) {
      const state = m.state;
      state.compiled = undefined;
      try {
        state.compiled = cache.compile(ctx, reg, m, compile);
        cache.attach(ctx, parents, reg, m);
        if (m.attach!.count === 0) continue;
        const gen = generation(state.obj.metadata);
        const owned = m.owned;
        // The status stamped last time still holds when the attachment was replayed and the
        // caller hands that very status back as the previous one (stamping again changes nothing).
        if (m.replayed && owned && m.ownedGen === gen && options.previous?.get(state.key) === owned.status) {
          if (owned.object !== state.obj) m.owned = { key: state.key, object: state.obj, status: owned.status };
        } else {
          // Fresh entries from attachment are stamped in place (and then forgotten); otherwise a
          // copy of the status handed out last time is stamped again.
          const fresh = m.attach!.entries;
          const status = { parents: fresh ?? parentEntries(m).map(copyEntry) };
          stampStatus(status, options.previous?.get(state.key), gen, options.now);
          m.owned = { key: state.key, object: state.obj, status };
          m.ownedGen = gen;
          m.attach!.entries = undefined;
        }
        m.emitted = cache.runNumber;
      } catch (e) {
        // Defence in depth: a malformed object must never take translation down.
        ctx.diag(state.key, `ignored: ${(e as Error).message}`);
      }
    }
  } else {
    for (const state of routeStates(ctx)) {
      try {
        const cr = compile(state);
        state.compiled = cr;
        const entries = attachRoute(ctx, parents, reg, cr);
        if (entries.length > 0) emit(state.obj, { parents: entries }, state.key);
      } catch (e) {
        ctx.diag(state.key, `ignored: ${(e as Error).message}`);
      }
    }
  }

  for (const [policy, status] of translateBackendTLSPolicies(ctx, reg)) emit(policy, status);
  for (const [policy, status] of translateBackendTrafficPolicies(ctx, reg)) emit(policy, status);

  for (const cls of classes.values()) emit(cls.obj, cls.status);
  for (const gw of gateways) emit(gw.obj, gatewayStatus(ctx, gw));
  for (const set of sets) emit(set.obj, listenerSetStatus(set));

  const backends: IR['backends'] = {};
  for (const id of [...reg.backends.keys()].sort(cmpStr)) backends[id] = reg.backends.get(id)!;
  const ir = buildIR(snapshot.generation, gateways, backends, cache);
  statuses.sort((a, b) => cmpStr(a.key, b.key));
  // With a cache, route statuses come already sorted (cache.routeStatuses()): merge them in.
  const all = cache ? mergeSorted(cache.routeStatuses(), statuses) : statuses;
  ctx.diagnostics.sort((a, b) => cmpStr(a.object, b.object) || cmpStr(a.message, b.message));
  const result = { statuses: all, ir, diagnostics: ctx.diagnostics };
  if (cache) cache.last = { snapshot, ctx, optionsKey: optionsKey(options), parents, gateways, sets, reg, result, gatewayIR: cache.gatewayIR! };
  return result;
}

const ROUTE_KIND_SET: ReadonlySet<string> = new Set(ROUTE_KINDS);
/** Most changed routes a delta run takes on (more are as cheap in a full run). */
const MAX_DELTA_ROUTES = 256;

/** What a translation depends on in its options, besides `now` and `previous`. */
function optionsKey(options: TranslateOptions): string {
  return JSON.stringify([options.controllerName ?? null, options.defaultAddresses ?? null, options.localAddresses ?? null]);
}

interface RouteChange {
  kind: SnapshotKind;
  key: string;
  was?: KubeObject;
  now?: KubeObject;
}

/**
 * A run for a snapshot that differs from the previous run's in routes only (the common change:
 * a route file saved), in time proportional to the change: the changed routes leave the
 * listeners they were attached to, the new versions are compiled and attached in their place,
 * and only the Gateways and ListenerSets whose listeners changed get a new status and IR.
 * Everything else is the previous result's. Undefined when the change is not of that kind, or
 * when what it reuses might not be what a full run would give:
 * - any object other than a route changed (every route may depend on it);
 * - policies exist (their status depends on which Gateways use which backends);
 * - both HTTPRoutes and GRPCRoutes exist (cross serving makes one route's attachment depend on others);
 * - the caller's previous statuses are not the ones handed out last (stamping again would differ);
 * - the previous run had diagnostics (a route that failed to translate).
 */
function runDelta(snapshot: Snapshot, options: TranslateOptions, cache: TranslateCache): TranslateResult | undefined {
  const last = cache.last;
  const previous = options.previous;
  if (!last || !previous || last.result.diagnostics.length > 0 || last.reg.tracksUses || optionsKey(options) !== last.optionsKey) return undefined;
  const before = last.snapshot;
  for (const [kind, m] of snapshot.objects) if (!ROUTE_KIND_SET.has(kind) && m !== before.objects.get(kind)) return undefined;
  for (const [kind, m] of before.objects) if (!ROUTE_KIND_SET.has(kind) && m !== snapshot.objects.get(kind)) return undefined;
  const both = (s: Snapshot) => (s.objects.get('HTTPRoute')?.size ?? 0) > 0 && (s.objects.get('GRPCRoute')?.size ?? 0) > 0;
  if (both(snapshot) || both(before)) return undefined;
  const changes = routeChanges(before, snapshot);
  if (changes === undefined) return undefined;
  for (const c of changes) if (c.was && typeof obj(c.was.metadata).name === 'string' && !cache.memoOf(c.kind, c.key)) return undefined;
  if (!options.previousIsLast) for (const s of last.result.statuses) if (previous.get(s.key) !== s.status) return undefined;

  // From here on the cache changes: an exception makes the caller reset it and run in full.
  const ctx = new Context(snapshot, options, last.ctx);
  const { parents, reg } = last;
  cache.beginDelta(ctx, parents);
  const refs = last.backendRefs ??= countBackendRefs(cache.allRoutes());
  const backendCount = reg.backends.size;
  let backendGone = false;
  const touched = new Set<ListenerState>();
  const replaced = new Map<string, OwnedStatus | undefined>();
  for (const c of changes) {
    const m = c.was ? cache.memoOf(c.kind, c.key) : undefined;
    if (!m) continue;
    cache.removeRoute(m, touched);
    replaced.set(m.state.key, undefined);
    for (const call of m.calls) {
      const r = call.result;
      if (!r.ok) continue;
      const n = (refs.get(r.id) ?? 0) - 1;
      if (n > 0) {
        refs.set(r.id, n);
        continue;
      }
      refs.delete(r.id);
      reg.backends.delete(r.id);
      reg.byService.get(`${r.namespace}/${r.service}`)?.delete(r.id);
      reg.portNames.delete(r.id);
      backendGone = true;
    }
  }
  const added: RouteMemo[] = [];
  for (const c of changes) {
    if (!c.now || typeof obj(c.now.metadata).name !== 'string') continue;
    const m = cache.insertRoute(c.kind, c.key, c.now, newRouteState);
    if (!m) throw new Error('incremental translator: no room left in the route order');
    added.push(m);
  }
  added.sort((a, b) => a.state.order - b.state.order);
  const compile = (state: RouteState): CompiledRoute => (state.kind === 'HTTPRoute' ? compileHTTPRoute(ctx, reg, state)
    : state.kind === 'GRPCRoute' ? compileGRPCRoute(ctx, reg, state)
      : compileL4Route(ctx, reg, state));
  for (const m of added) {
    const state = m.state;
    try {
      state.compiled = cache.compile(ctx, reg, m, compile);
      for (const call of m.calls) if (call.result.ok) refs.set(call.result.id, (refs.get(call.result.id) ?? 0) + 1);
      cache.attach(ctx, parents, reg, m);
      const a = m.attach!;
      for (const e of a.rec.effects) touched.add(a.slots[e.parent]!.listeners[e.listener]!);
      if (a.count === 0) continue;
      const gen = generation(state.obj.metadata);
      const status = { parents: a.entries! };
      stampStatus(status, previous.get(state.key), gen, options.now);
      m.owned = { key: state.key, object: state.obj, status };
      m.ownedGen = gen;
      a.entries = undefined;
      m.emitted = cache.runNumber;
      replaced.set(state.key, m.owned);
    } catch (e) {
      ctx.diag(state.key, `ignored: ${(e as Error).message}`);
    }
  }

  // Gateways and ListenerSets whose listeners gained or lost routes: new status and IR.
  const emit = (object: KubeObject, status: Record<string, unknown>): void => {
    const key = keyOf(object);
    stampStatus(status, previous.get(key), generation(object.metadata), options.now);
    replaced.set(key, { key, object, status });
  };
  const changedGateways = new Set<GatewayState>();
  const changedSets = new Set<ListenerSetState>();
  for (const l of touched) {
    changedGateways.add(l.gateway);
    if (l.ownerKind === 'ListenerSet') {
      const set = l.gateway.listenerSets.find((s) => s.obj === l.owner);
      if (set) changedSets.add(set);
    }
  }
  for (const gw of changedGateways) if (gw.listeners.some((l) => touched.has(l))) emit(gw.obj, gatewayStatus(ctx, gw));
  for (const set of changedSets) emit(set.obj, listenerSetStatus(set));

  let gateways = last.result.ir.gateways;
  if (changedGateways.size > 0) {
    const out: IRGateway[] = [];
    for (const gw of last.gateways) {
      let g = last.gatewayIR.get(gw);
      if (changedGateways.has(gw)) {
        g = buildGatewayIR(gw, cache.listeners, cache.listeners);
        if (g) last.gatewayIR.set(gw, g);
        else last.gatewayIR.delete(gw);
      }
      if (g) out.push(g);
    }
    gateways = out;
  }
  let backends = last.result.ir.backends;
  if (backendGone || reg.backends.size !== backendCount) {
    backends = {};
    for (const id of [...reg.backends.keys()].sort(cmpStr)) backends[id] = reg.backends.get(id)!;
  }
  const ir: IR = { generation: snapshot.generation, gateways, backends };

  const statuses: OwnedStatus[] = [];
  for (const s of last.result.statuses) {
    if (!replaced.has(s.key)) {
      statuses.push(s);
      continue;
    }
    const r = replaced.get(s.key);
    if (r) statuses.push(r);
    replaced.delete(s.key);
  }
  const fresh: OwnedStatus[] = [];
  for (const r of replaced.values()) if (r) fresh.push(r);
  fresh.sort((a, b) => cmpStr(a.key, b.key));
  ctx.diagnostics.sort((a, b) => cmpStr(a.object, b.object) || cmpStr(a.message, b.message));
  const result = { statuses: fresh.length > 0 ? mergeSorted(fresh, statuses) : statuses, ir, diagnostics: ctx.diagnostics };
  cache.last = { ...last, snapshot, ctx, result };
  return result;
}

/**
 * The routes that differ between two snapshots (by instance), or undefined when there are too
 * many. When the provider says which keys changed since `before`, only those are looked at.
 */
function routeChanges(before: Snapshot, after: Snapshot): RouteChange[] | undefined {
  const out: RouteChange[] = [];
  const told = after.changes?.since === before.generation ? after.changes.keys : undefined;
  for (const kind of ROUTE_KINDS) {
    const a = before.objects.get(kind);
    const b = after.objects.get(kind);
    if (a === b) continue;
    const keys = told?.get(kind);
    if (keys !== undefined) {
      if (keys.size > MAX_DELTA_ROUTES) return undefined;
      for (const key of keys) {
        const was = a?.get(key);
        const now = b?.get(key);
        if (was !== now) out.push({ kind, key, was, now });
      }
      if (out.length > MAX_DELTA_ROUTES) return undefined;
      continue;
    }
    let common = 0;
    for (const [key, now] of b ?? []) {
      const was = a?.get(key);
      if (was !== undefined) common++;
      if (was === now) continue;
      out.push({ kind, key, was, now });
      if (out.length > MAX_DELTA_ROUTES) return undefined;
    }
    if (a && a.size > common) {
      for (const [key, was] of a) {
        if (b?.has(key)) continue;
        out.push({ kind, key, was });
        if (out.length > MAX_DELTA_ROUTES) return undefined;
      }
    }
  }
  return out;
}

/** Backend id → how many routes' compilations resolve to it. */
function countBackendRefs(memos: readonly RouteMemo[]): Map<string, number> {
  const refs = new Map<string, number>();
  for (const m of memos) for (const c of m.calls) if (c.result.ok) refs.set(c.result.id, (refs.get(c.result.id) ?? 0) + 1);
  return refs;
}

/** Two lists sorted by key, merged. */
function mergeSorted(a: OwnedStatus[], b: OwnedStatus[]): OwnedStatus[] {
  const out: OwnedStatus[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(cmpStr(b[j]!.key, a[i]!.key) < 0 ? b[j++]! : a[i++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

function newRouteState(kind: SnapshotKind, o: KubeObject): RouteState {
  const namespace = o.metadata.namespace ?? 'default';
  const name = o.metadata.name;
  return { obj: o, key: keyOf(o), kind, namespace, name, nsName: `${namespace}/${name}`, created: createdAt(o.metadata), order: 0 };
}

/** All routes, in the spec's tie-break order: oldest first, then namespace/name (then kind). */
function routeStates(ctx: Context): RouteState[] {
  const out: RouteState[] = [];
  for (const kind of ROUTE_KINDS) {
    // Sorted just below: no need for ctx.list()'s key order.
    for (const o of ctx.snapshot.objects.get(kind)?.values() ?? []) {
      if (typeof obj(o.metadata).name === 'string') out.push(newRouteState(kind, o));
    }
  }
  out.sort(cmpRoutes);
  for (let i = 0; i < out.length; i++) out[i]!.order = i;
  return out;
}
