// translate(): snapshot in, status + IR out. Pure and deterministic: no I/O, no clock
// (the time used for lastTransitionTime is passed in), same snapshot → same bytes out.
//
// Order of work: GatewayClasses → Gateways and their listeners → ListenerSets → listener
// conflicts over the merged lists → routes (compiled once, then attached per parentRef) →
// BackendTLSPolicies and XBackendTrafficPolicies (which need to know which Gateways use which
// Services) → IR → status.
import type { KubeObject } from '../api/meta.ts';
import type { IR } from '../ir/types.ts';
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
import { buildIR } from './ir.ts';
import { compileL4Route } from './l4.ts';
import { buildListenerSets, listenerSetStatus } from './listenerset.ts';
import { translateBackendTLSPolicies } from './policies/backendtls.ts';
import { translateBackendTrafficPolicies } from './policies/backendtraffic.ts';
import type { GatewayState, ListenerSetState, RouteState } from './state.ts';
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
  return { statuses: all, ir, diagnostics: ctx.diagnostics };
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
