// GRPCRoute → IR routes. gRPC method matches become path matches on "/service/method":
// Exact with both → Exact path; service only → PathPrefix "/service"; method only or
// RegularExpression → a regex over the whole path. Invalid rules are dropped as for HTTPRoute.
import { RouteReason } from '../api/conditions.ts';
import type { IRMatch } from '../ir/types.ts';
import type { CompiledRoute } from './attach.ts';
import type { BackendRegistry } from './backends.ts';
import type { Context } from './context.ts';
import type { RuleProblem } from './filters.ts';
import { convertFilters, isProblem } from './filters.ts';
import { sessionPersistence, valueMatches } from './httproute.ts';
import { compileRules, deferredFilterEnv, pushRuleRoutes, ruleMatches, weightedBackends } from './rules.ts';
import type { RouteState } from './state.ts';
import { obj, regexProblem, str } from './util.ts';

const SERVICE = /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/;
const METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function methodPath(raw: unknown): IRMatch['path'] | RuleProblem {
  if (raw === undefined) return { type: 'PathPrefix', value: '/' };
  const m = obj(raw);
  const type = str(m.type) ?? 'Exact';
  const service = m.service === undefined ? undefined : str(m.service);
  const method = m.method === undefined ? undefined : str(m.method);
  if ((m.service !== undefined && service === undefined) || (m.method !== undefined && method === undefined)) {
    return { reason: RouteReason.UnsupportedValue, message: 'gRPC service and method must be strings.' };
  }
  // GRPCMethodMatch CEL: one or both of service and method must be set (type is always set, it
  // defaults to Exact); a match on neither is not a match-all.
  if (service === undefined && method === undefined) {
    return { reason: RouteReason.UnsupportedValue, message: 'gRPC method match sets neither service nor method.' };
  }
  if (type === 'Exact') {
    if ((service !== undefined && !SERVICE.test(service)) || (method !== undefined && !METHOD.test(method))) {
      return { reason: RouteReason.UnsupportedValue, message: 'gRPC service or method name is invalid.' };
    }
    if (service && method) return { type: 'Exact', value: `/${service}/${method}` };
    if (service) return { type: 'PathPrefix', value: `/${service}` };
    if (method) return { type: 'RegularExpression', value: `/[^/]+/${escapeRegex(method)}` };
    return { type: 'PathPrefix', value: '/' };
  }
  if (type === 'RegularExpression') {
    for (const [what, v] of [['service', service], ['method', method]] as const) {
      const problem = v === undefined ? undefined : regexProblem(v);
      if (problem !== undefined) return { reason: RouteReason.UnsupportedValue, message: `gRPC ${what} regular expression ${JSON.stringify(v)} is ${problem}.` };
    }
    return { type: 'RegularExpression', value: `/(${service || '[^/]+'})/(${method || '[^/]+'})` };
  }
  return { reason: RouteReason.UnsupportedValue, message: `gRPC method match type ${JSON.stringify(m.type)} is not supported.` };
}

export function compileGRPCRoute(ctx: Context, reg: BackendRegistry, state: RouteState): CompiledRoute {
  return compileRules(state, (cr, rule, ri) => compileRule(ctx, reg, cr, rule, ri));
}

function compileRule(ctx: Context, reg: BackendRegistry, cr: CompiledRoute, rule: Record<string, unknown>, ri: number): RuleProblem | undefined {
  const rawMatches = ruleMatches(rule);
  if (isProblem(rawMatches)) return rawMatches;
  const matches: IRMatch[] = [];
  for (const m of rawMatches) {
    const path = methodPath(m.method);
    if (isProblem(path)) return path;
    const headers = valueMatches(m.headers, true);
    if (!Array.isArray(headers)) return headers;
    matches.push({ path, headers, queryParams: [] });
  }
  const { env, commit } = deferredFilterEnv(ctx, reg, cr, false);
  const filters = convertFilters(rule.filters, env, true);
  if (isProblem(filters)) return filters;
  const backends = weightedBackends(ctx, reg, env, rule.backendRefs, 'grpc', true, true);
  if (isProblem(backends)) return backends;
  const sp = sessionPersistence(rule.sessionPersistence);
  if (isProblem(sp)) return sp;
  commit();
  const answersItself = filters.some((f) => f.type === 'DirectResponse');
  pushRuleRoutes(cr, rule, ri, 'grpc', { matches, filters, backends, answersItself, sessionPersistence: sp });
  return undefined;
}
