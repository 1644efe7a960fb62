// translate(): snapshot in, status + IR out. Pure and deterministic: no I/O, no clock
// (the time used for lastTransitionTime is passed in), same snapshot → same bytes out.
//
// Order of work: GatewayClasses → Gateways and their listeners → ListenerSets → listener
// conflicts over the merged lists → routes (compiled once, then attached per parentRef) →
// BackendTLSPolicies (which need to know which Gateways use which Services) → IR → status.
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
import { buildIR } from './ir.ts';
import { compileL4Route } from './l4.ts';
import { buildListenerSets, listenerSetStatus } from './listenerset.ts';
import { translateBackendTLSPolicies } from './policies/backendtls.ts';
import type { GatewayState, ListenerSetState, RouteState } from './state.ts';
import { cmpAge, cmpStr, createdAt, generation } from './util.ts';

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

export function translate(snapshot: Snapshot, options: TranslateOptions): TranslateResult {
  const ctx = new Context(snapshot, options);
  const statuses: OwnedStatus[] = [];
  const emit = (object: KubeObject, status: Record<string, unknown>): void => {
    const key = keyOf(object);
    stampStatus(status, options.previous?.get(key), generation(object.metadata), options.now);
    statuses.push({ key, object, status });
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
  const compiled = new Map<RouteState, CompiledRoute>();
  for (const state of routeStates(ctx)) {
    try {
      const cr = state.kind === 'HTTPRoute' ? compileHTTPRoute(ctx, reg, state)
        : state.kind === 'GRPCRoute' ? compileGRPCRoute(ctx, reg, state)
          : compileL4Route(ctx, reg, state);
      compiled.set(state, cr);
      const entries = attachRoute(ctx, parents, reg, cr);
      if (entries.length > 0) emit(state.obj, { parents: entries });
    } catch (e) {
      // Defence in depth: a malformed object must never take translation down.
      ctx.diag(keyOf(state.obj), `ignored: ${(e as Error).message}`);
    }
  }

  const policyStatus = translateBackendTLSPolicies(ctx, reg);
  for (const [policy, status] of policyStatus) emit(policy, status);

  for (const cls of classes.values()) emit(cls.obj, cls.status);
  for (const gw of gateways) emit(gw.obj, gatewayStatus(ctx, gw));
  for (const set of sets) emit(set.obj, listenerSetStatus(set));

  const backends: IR['backends'] = {};
  for (const id of [...reg.backends.keys()].sort(cmpStr)) backends[id] = reg.backends.get(id)!;
  const ir = buildIR(snapshot.generation, gateways, compiled, backends);
  statuses.sort((a, b) => cmpStr(a.key, b.key));
  ctx.diagnostics.sort((a, b) => cmpStr(a.object, b.object) || cmpStr(a.message, b.message));
  return { statuses, ir, diagnostics: ctx.diagnostics };
}

/** All routes, in the spec's tie-break order: oldest first, then namespace/name (then kind). */
function routeStates(ctx: Context): RouteState[] {
  const out: RouteState[] = [];
  for (const kind of ROUTE_KINDS) {
    for (const o of ctx.list(kind)) {
      out.push({ obj: o, kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name, created: createdAt(o.metadata), order: 0 });
    }
  }
  const keys = new Map(out.map((r) => [r, { created: r.created, nsName: `${r.namespace}/${r.name}` }]));
  out.sort((a, b) => cmpAge(keys.get(a)!, keys.get(b)!) || cmpStr(a.kind, b.kind));
  out.forEach((r, i) => { r.order = i; });
  return out;
}
