// What HTTPRoute and GRPCRoute rules share: backendRefs → weighted backends (invalid refs keep
// their weight and answer 500), the ResolvedRefs bookkeeping, and the compile skeleton that
// drops invalid rules (PartiallyInvalid) or rejects the route when none is left.
import type { Condition } from '../api/meta.ts';
import { PARTIALLY_INVALID_DROPPED_RULE, RouteReason } from '../api/conditions.ts';
import type { IRFilter, IRHTTPRoute, IRMatch, IRWeightedBackend } from '../ir/types.ts';
import type { CompiledRoute } from './attach.ts';
import type { BackendRegistry, BackendUse } from './backends.ts';
import { resolveBackendRef } from './backends.ts';
import type { Context } from './context.ts';
import { RouteConditions as RC } from './conditions.ts';
import type { FilterEnv, RuleProblem } from './filters.ts';
import { convertFilters, isProblem } from './filters.ts';
import { httpKey } from './precedence.ts';
import type { RouteState } from './state.ts';
import { int, isHostname, isObj, obj, objArr, str, arr } from './util.ts';

const REFS_CONDITION: Record<string, (m: string) => Condition> = {
  [RouteReason.RefNotPermitted]: RC.refNotPermitted,
  [RouteReason.InvalidKind]: RC.invalidKind,
  [RouteReason.BackendNotFound]: RC.backendNotFound,
  [RouteReason.UnsupportedProtocol]: RC.unsupportedProtocol,
};

export function newCompiled(state: RouteState): CompiledRoute {
  return { state, http: [], l4: [], backendIds: [] };
}

export function filterEnv(ctx: Context, reg: BackendRegistry, cr: CompiledRoute, prefixOnly: boolean): FilterEnv {
  return {
    ctx, reg, routeKind: cr.state.kind, routeNs: cr.state.namespace, prefixOnly,
    onRef: (r) => {
      if (r.ok && r.id) {
        if (!cr.backendIds.includes(r.id)) cr.backendIds.push(r.id);
      } else if (!r.ok && !cr.refs) {
        cr.refs = (REFS_CONDITION[r.reason ?? ''] ?? RC.backendNotFound)(r.message ?? 'Invalid backend reference.');
      }
    },
  };
}

/**
 * A FilterEnv that holds backend refs back until commit(): refs are only recorded once the rule
 * is known to be kept, so a dropped rule leaves no trace in ResolvedRefs or the backend list.
 */
export function deferredFilterEnv(ctx: Context, reg: BackendRegistry, cr: CompiledRoute, prefixOnly: boolean): { env: FilterEnv; commit: () => void } {
  const base = filterEnv(ctx, reg, cr, prefixOnly);
  const pending: Parameters<FilterEnv['onRef']>[0][] = [];
  return {
    env: { ...base, onRef: (r) => { pending.push(r); } },
    commit: () => { for (const r of pending) base.onRef(r); },
  };
}

/** backendRefs of a rule → weighted backends. Invalid refs keep their weight, answering 500. */
export function weightedBackends(
  ctx: Context, reg: BackendRegistry, env: FilterEnv, refs: unknown, use: BackendUse, withFilters: boolean, grpc: boolean,
): IRWeightedBackend[] | RuleProblem {
  const out: IRWeightedBackend[] = [];
  for (const ref of objArr(refs)) {
    const weight = ref.weight === undefined ? 1 : int(ref.weight);
    if (weight === undefined || weight < 0 || weight > 1_000_000) {
      return { reason: RouteReason.UnsupportedValue, message: `backendRef weight ${JSON.stringify(ref.weight)} is invalid.` };
    }
    let filters: IRFilter[] = [];
    if (withFilters && ref.filters !== undefined) {
      const f = convertFilters(ref.filters, env, grpc);
      if (isProblem(f)) return f;
      filters = f;
    }
    const r = resolveBackendRef(ctx, reg, env.routeKind, env.routeNs, ref, use);
    env.onRef(r);
    const wb: IRWeightedBackend = { weight, filters };
    if (r.ok) {
      wb.backendId = r.id;
      wb.source = { kind: 'Service', namespace: r.namespace, name: r.service };
    } else {
      wb.invalidStatus = 500;
      const name = str(ref.name);
      if (name) wb.source = { kind: str(ref.kind) ?? 'Service', namespace: str(ref.namespace) ?? env.routeNs, name };
    }
    out.push(wb);
  }
  return out;
}

/** Valid route hostnames; undefined entries are skipped (the CRD would reject them). */
export function routeHostnames(spec: Record<string, unknown>): string[] {
  return arr(spec.hostnames).filter((h): h is string => typeof h === 'string' && isHostname(h));
}

/** The compile skeleton of HTTPRoute and GRPCRoute: every rule on its own, a problem drops it. */
export function compileRules(
  state: RouteState, compileRule: (cr: CompiledRoute, rule: Record<string, unknown>, ri: number) => RuleProblem | undefined,
): CompiledRoute {
  const cr = newCompiled(state);
  const spec = obj(state.obj.spec);
  cr.hostnames = routeHostnames(spec);
  const rules: unknown[] = Array.isArray(spec.rules) && spec.rules.length > 0 ? spec.rules : [{}];
  const dropped: { index: number; problem: RuleProblem }[] = [];
  rules.forEach((rule, ri) => {
    // A null (or otherwise non-object) rule is malformed, not an empty match-all rule.
    const p = isObj(rule) ? compileRule(cr, rule, ri) : { reason: RouteReason.UnsupportedValue, message: 'Rule is not an object.' };
    if (p) dropped.push({ index: ri, problem: p });
  });
  finishRules(cr, rules.length, dropped);
  return cr;
}

/**
 * The matches of an HTTPRoute or GRPCRoute rule; none (absent or []) is one match-all. Matches
 * that are not a list of objects (e.g. "all", [null]) are malformed, never read as match-all.
 */
export function ruleMatches(rule: Record<string, unknown>): readonly Record<string, unknown>[] | RuleProblem {
  const m = rule.matches;
  if (m === undefined || m === null || (Array.isArray(m) && m.length === 0)) return [{}];
  if (!Array.isArray(m) || !m.every(isObj)) return { reason: RouteReason.UnsupportedValue, message: 'Rule matches must be a list of objects.' };
  return m;
}

/** A kept rule of an HTTPRoute or GRPCRoute, ready to become IR routes. */
export interface KeptRule {
  matches: IRMatch[];
  filters: IRFilter[];
  backends: IRWeightedBackend[];
  /** A filter answers the request (redirect, direct response): no 500 for missing backends. */
  answersItself: boolean;
  timeouts?: IRHTTPRoute['timeouts'];
  retry?: IRHTTPRoute['retry'];
  sessionPersistence?: IRHTTPRoute['sessionPersistence'];
}

/** One IR route per match of a kept rule, each with its precedence key (precedence.ts orders them). */
export function pushRuleRoutes(cr: CompiledRoute, rule: Record<string, unknown>, ri: number, kind: IRHTTPRoute['kind'], k: KeptRule): void {
  const name = str(rule.name);
  const total = k.backends.reduce((s, b) => s + b.weight, 0);
  k.matches.forEach((match, mi) => {
    const route: IRHTTPRoute = {
      source: { kind: cr.state.kind, namespace: cr.state.namespace, name: cr.state.name, rule: ri },
      kind,
      match,
      filters: k.filters,
      backends: total > 0 ? k.backends : [],
    };
    if (name !== undefined) route.source.ruleName = name;
    if (Array.isArray(rule.matches) && rule.matches.length > 0) route.source.match = mi;
    // No backendRefs (or all weights 0) and nothing that answers by itself: 500 (conformance
    // HTTPRouteOmittedBackendRefs); the spec's "no backends" rule.
    if (route.backends.length === 0 && !k.answersItself) route.directResponse = { status: 500 };
    if (k.timeouts && Object.keys(k.timeouts).length > 0) route.timeouts = k.timeouts;
    if (k.retry) route.retry = k.retry;
    if (k.sessionPersistence) route.sessionPersistence = k.sessionPersistence;
    cr.http.push({ route, key: httpKey(match, cr.state.order, ri, mi) });
  });
}

/** Records dropped rules: PartiallyInvalid, or Accepted=False when nothing is left. */
export function finishRules(cr: CompiledRoute, total: number, dropped: { index: number; problem: RuleProblem }[]): void {
  if (dropped.length === 0) return;
  const first = dropped[0]!.problem;
  if (dropped.length === total) {
    cr.notAccepted = first.reason === RouteReason.IncompatibleFilters
      ? RC.incompatibleFilters(first.message) : RC.unsupportedValue(first.message);
    return;
  }
  cr.partial = RC.partiallyInvalid(
    `${PARTIALLY_INVALID_DROPPED_RULE}(s) ${dropped.map((d) => d.index).join(', ')}: ${dropped.map((d) => d.problem.message).join(' ')}`);
}
