// HTTPRoute → IR routes. Each rule is validated on its own: a rule Portico cannot implement is
// dropped (PartiallyInvalid) and the route is rejected only when no rule is left. Every match
// becomes one IR route with its precedence key (precedence.ts orders them).
import { HTTP_METHODS } from '../api/routes.ts';
import type { HTTPMethod } from '../api/routes.ts';
import { RouteReason } from '../api/conditions.ts';
import type { IRHTTPRoute, IRMatch, IRValueMatch } from '../ir/types.ts';
import type { CompiledRoute } from './attach.ts';
import type { BackendRegistry } from './backends.ts';
import type { Context } from './context.ts';
import type { RuleProblem } from './filters.ts';
import { convertFilters, isProblem } from './filters.ts';
import type { RouteState } from './state.ts';
import { compileRules, deferredFilterEnv, pushRuleRoutes, ruleMatches, weightedBackends } from './rules.ts';
import { durationMs, obj, objArr, regexProblem, str, int } from './util.ts';

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const BAD_PATH = /\/\/|\/\.\/|\/\.\.\/|%2f|%2F|#/;

export function valueMatches(raw: unknown, lowerNames: boolean): IRValueMatch[] | RuleProblem {
  const out: IRValueMatch[] = [];
  if (!Array.isArray(raw) || raw.length === 0) return out;
  const seen = new Set<string>();
  for (const h of objArr(raw)) {
    const name = str(h.name);
    const value = str(h.value);
    const type = str(h.type) ?? 'Exact';
    if (!name || !HEADER_NAME.test(name) || value === undefined) return { reason: RouteReason.UnsupportedValue, message: 'header/query match has an invalid name or value.' };
    if (type !== 'Exact' && type !== 'RegularExpression') return { reason: RouteReason.UnsupportedValue, message: `match type ${JSON.stringify(h.type)} is not supported.` };
    const problem = type === 'RegularExpression' ? regexProblem(value) : undefined;
    if (problem !== undefined) return { reason: RouteReason.UnsupportedValue, message: `regular expression ${JSON.stringify(value)} is ${problem}.` };
    const key = lowerNames ? name.toLowerCase() : name;
    // The spec: with duplicate names, the first entry wins.
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ name: key, type, value });
  }
  return out;
}

function convertMatch(m: Record<string, unknown>): IRMatch | RuleProblem {
  const path = obj(m.path);
  const type = m.path === undefined || path.type === undefined ? 'PathPrefix' : str(path.type);
  const value = path.value === undefined ? '/' : str(path.value);
  if (value === undefined) return { reason: RouteReason.UnsupportedValue, message: 'path value must be a string.' };
  if (type === 'Exact' || type === 'PathPrefix') {
    if (!value.startsWith('/') || BAD_PATH.test(value) || value.length > 1024) return { reason: RouteReason.UnsupportedValue, message: `path ${JSON.stringify(value)} is invalid.` };
  } else if (type === 'RegularExpression') {
    const problem = regexProblem(value);
    if (problem !== undefined) return { reason: RouteReason.UnsupportedValue, message: `path regular expression ${JSON.stringify(value)} is ${problem}.` };
  } else {
    return { reason: RouteReason.UnsupportedValue, message: `path match type ${JSON.stringify(path.type)} is not supported.` };
  }
  const headers = valueMatches(m.headers, true);
  if (!Array.isArray(headers)) return headers;
  const queryParams = valueMatches(m.queryParams, false);
  if (!Array.isArray(queryParams)) return queryParams;
  const out: IRMatch = { path: { type, value }, headers, queryParams };
  if (m.method !== undefined) {
    const method = str(m.method);
    if (!method || !HTTP_METHODS.includes(method as HTTPMethod)) return { reason: RouteReason.UnsupportedValue, message: `method ${JSON.stringify(m.method)} is not supported.` };
    out.method = method;
  }
  return out;
}

function timeouts(raw: unknown): IRHTTPRoute['timeouts'] | RuleProblem | undefined {
  if (raw === undefined) return undefined;
  const t = obj(raw);
  const out: NonNullable<IRHTTPRoute['timeouts']> = {};
  if (t.request !== undefined) {
    const ms = durationMs(t.request);
    if (ms === undefined) return { reason: RouteReason.UnsupportedValue, message: `timeouts.request ${JSON.stringify(t.request)} is not a valid duration.` };
    out.requestMs = ms;
  }
  if (t.backendRequest !== undefined) {
    const ms = durationMs(t.backendRequest);
    if (ms === undefined) return { reason: RouteReason.UnsupportedValue, message: `timeouts.backendRequest ${JSON.stringify(t.backendRequest)} is not a valid duration.` };
    out.backendRequestMs = ms;
  }
  if (out.requestMs && out.backendRequestMs && out.backendRequestMs > out.requestMs) {
    return { reason: RouteReason.UnsupportedValue, message: 'timeouts.backendRequest must not exceed timeouts.request.' };
  }
  return out;
}

function retry(raw: unknown): IRHTTPRoute['retry'] | RuleProblem | undefined {
  if (raw === undefined) return undefined;
  const r = obj(raw);
  const codes: number[] = [];
  for (const c of Array.isArray(r.codes) ? r.codes : []) {
    const n = int(c);
    if (n === undefined || n < 400 || n > 599) return { reason: RouteReason.UnsupportedValue, message: `retry code ${JSON.stringify(c)} is invalid.` };
    if (!codes.includes(n)) codes.push(n);
  }
  // Attempts absent: implementation-specific; Portico retries once (as Envoy Gateway does).
  const attempts = r.attempts === undefined ? 1 : int(r.attempts);
  if (attempts === undefined || attempts < 0) return { reason: RouteReason.UnsupportedValue, message: 'retry.attempts is invalid.' };
  const out: NonNullable<IRHTTPRoute['retry']> = { codes, attempts };
  if (r.backoff !== undefined) {
    const ms = durationMs(r.backoff);
    if (ms === undefined) return { reason: RouteReason.UnsupportedValue, message: 'retry.backoff is not a valid duration.' };
    out.backoffMs = ms;
  }
  return out;
}

export function sessionPersistence(raw: unknown): IRHTTPRoute['sessionPersistence'] | RuleProblem | undefined {
  if (raw === undefined) return undefined;
  const s = obj(raw);
  const type = str(s.type) ?? 'Cookie';
  if (type !== 'Cookie' && type !== 'Header') return { reason: RouteReason.UnsupportedValue, message: `sessionPersistence type ${JSON.stringify(s.type)} is not supported.` };
  const out: NonNullable<IRHTTPRoute['sessionPersistence']> = { type, name: str(s.sessionName) ?? (type === 'Cookie' ? 'portico-session' : 'x-portico-session') };
  for (const [field, key] of [['absoluteTimeout', 'absoluteTimeoutMs'], ['idleTimeout', 'idleTimeoutMs']] as const) {
    if (s[field] === undefined) continue;
    const ms = durationMs(s[field]);
    if (ms === undefined) return { reason: RouteReason.UnsupportedValue, message: `sessionPersistence.${field} is not a valid duration.` };
    out[key] = ms;
  }
  const lt = str(obj(s.cookieConfig).lifetimeType);
  if (lt === 'Permanent' || lt === 'Session') out.lifetimeType = lt;
  return out;
}

export function compileHTTPRoute(ctx: Context, reg: BackendRegistry, state: RouteState): CompiledRoute {
  return compileRules(state, (cr, rule, ri) => compileRule(ctx, reg, cr, rule, ri));
}

function compileRule(ctx: Context, reg: BackendRegistry, cr: CompiledRoute, rule: Record<string, unknown>, ri: number): RuleProblem | undefined {
  const rawMatches = ruleMatches(rule);
  if (isProblem(rawMatches)) return rawMatches;
  const matches: IRMatch[] = [];
  for (const m of rawMatches) {
    const c = convertMatch(m);
    if (isProblem(c)) return c;
    matches.push(c);
  }
  const prefixOnly = matches.length === 1 && matches[0]!.path.type === 'PathPrefix';
  const { env, commit } = deferredFilterEnv(ctx, reg, cr, prefixOnly);
  const filters = convertFilters(rule.filters, env, false);
  if (isProblem(filters)) return filters;
  const hasRedirect = filters.some((f) => f.type === 'RequestRedirect');
  const refs = objArr(rule.backendRefs);
  if (hasRedirect && refs.length > 0) return { reason: RouteReason.IncompatibleFilters, message: 'RequestRedirect cannot be combined with backendRefs.' };
  const backends = weightedBackends(ctx, reg, env, rule.backendRefs, 'http', true, false);
  if (isProblem(backends)) return backends;
  const t = timeouts(rule.timeouts);
  if (isProblem(t)) return t;
  const rt = retry(rule.retry);
  if (isProblem(rt)) return rt;
  const sp = sessionPersistence(rule.sessionPersistence);
  if (isProblem(sp)) return sp;
  commit();
  const answersItself = filters.some((f) => f.type === 'RequestRedirect' || f.type === 'DirectResponse');
  pushRuleRoutes(cr, rule, ri, 'http', { matches, filters, backends, answersItself, timeouts: t, retry: rt, sessionPersistence: sp });
  return undefined;
}
