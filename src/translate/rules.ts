// What HTTPRoute and GRPCRoute rules share: backendRefs → weighted backends (invalid refs keep
// their weight and answer 500), the ResolvedRefs bookkeeping, and the compile skeleton that
// drops invalid rules (PartiallyInvalid) or rejects the route when none is left.
import type { Condition } from '../api/meta.ts';
import { PARTIALLY_INVALID_DROPPED_RULE, RouteReason } from '../api/conditions.ts';
import type { IRFilter, IRWeightedBackend } from '../ir/types.ts';
import type { CompiledRoute } from './attach.ts';
import type { BackendRegistry, BackendUse } from './backends.ts';
import { resolveBackendRef } from './backends.ts';
import type { Context } from './context.ts';
import { RouteConditions as RC } from './conditions.ts';
import type { FilterEnv, RuleProblem } from './filters.ts';
import { convertFilters, isProblem } from './filters.ts';
import type { RouteState } from './state.ts';
import { int, isHostname, objArr, str, arr } from './util.ts';

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
