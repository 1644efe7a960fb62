// HTTPRoute / GRPCRoute filters → IR filters. A filter Portico cannot implement makes its
// rule invalid (UnsupportedValue / IncompatibleFilters); an ExtensionRef (none are known)
// answers 500, as the spec requires for unresolved extension references.
import { RouteReason } from '../api/conditions.ts';
import type { IRFilter, IRHeaderModifier } from '../ir/types.ts';
import type { Context } from './context.ts';
import { BackendRegistry, resolveBackendRef } from './backends.ts';
import type { BackendUse } from './backends.ts';
import { isHostname, int, isObj, num, obj, objArr, str, strArr } from './util.ts';

export interface RuleProblem {
  reason: string;
  message: string;
}

export interface FilterEnv {
  ctx: Context;
  reg: BackendRegistry;
  routeKind: string;
  routeNs: string;
  /** Records a ResolvedRefs problem (first one wins) and the backends used. */
  onRef: (result: { ok: boolean; reason?: string; message?: string; id?: string }) => void;
  /** Rule matches are all PathPrefix (ReplacePrefixMatch needs it). */
  prefixOnly: boolean;
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

function headerModifier(v: unknown): IRHeaderModifier | RuleProblem {
  if (!isObj(v)) return { reason: RouteReason.UnsupportedValue, message: 'header modifier filter has no configuration.' };
  const pairs = (x: unknown): { name: string; value: string }[] | undefined => {
    const out: { name: string; value: string }[] = [];
    for (const h of objArr(x)) {
      const name = str(h.name);
      const value = str(h.value);
      if (!name || !HEADER_NAME.test(name) || value === undefined || /[\r\n\0]/.test(value)) return undefined;
      out.push({ name, value });
    }
    return out;
  };
  const set = pairs(v.set);
  const add = pairs(v.add);
  const remove = strArr(v.remove);
  if (!set || !add || remove.some((n) => !HEADER_NAME.test(n))) {
    return { reason: RouteReason.UnsupportedValue, message: 'header modifier has an invalid header name or value.' };
  }
  return { set, add, remove };
}

function pathModifier(v: unknown, env: FilterEnv): { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string } | RuleProblem | undefined {
  if (v === undefined) return undefined;
  const p = obj(v);
  const type = str(p.type);
  if (type === 'ReplaceFullPath') {
    const value = str(p.replaceFullPath);
    if (value === undefined || !value.startsWith('/')) return { reason: RouteReason.UnsupportedValue, message: 'replaceFullPath must start with "/".' };
    return { type, value };
  }
  if (type === 'ReplacePrefixMatch') {
    const value = str(p.replacePrefixMatch);
    if (value === undefined || !value.startsWith('/')) return { reason: RouteReason.UnsupportedValue, message: 'replacePrefixMatch must start with "/".' };
    if (!env.prefixOnly) return { reason: RouteReason.UnsupportedValue, message: 'ReplacePrefixMatch needs a PathPrefix match.' };
    return { type, value };
  }
  return { reason: RouteReason.UnsupportedValue, message: `path modifier type ${JSON.stringify(type)} is not supported.` };
}

function isProblem(v: unknown): v is RuleProblem {
  return isObj(v) && typeof v.reason === 'string' && typeof v.message === 'string';
}

function backendFor(env: FilterEnv, ref: unknown, use: BackendUse): string | undefined {
  const r = resolveBackendRef(env.ctx, env.reg, env.routeKind, env.routeNs, ref, use);
  env.onRef(r);
  return r.ok ? r.id : undefined;
}

const HTTP_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'CORS', 'ExternalAuth', 'ExtensionRef']);
const GRPC_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef']);
/** Filter types that may appear more than once in a list. */
const REPEATABLE = new Set(['RequestMirror', 'ExtensionRef']);

/** Converts a filter list; returns a problem when the list cannot be implemented. */
export function convertFilters(raw: unknown, env: FilterEnv, grpc: boolean): IRFilter[] | RuleProblem {
  const out: IRFilter[] = [];
  const seen = new Set<string>();
  const allowed = grpc ? GRPC_FILTERS : HTTP_FILTERS;
  for (const f of objArr(raw)) {
    const type = str(f.type) ?? '';
    if (!allowed.has(type)) return { reason: RouteReason.UnsupportedValue, message: `filter type ${JSON.stringify(f.type)} is not supported.` };
    if (seen.has(type) && !REPEATABLE.has(type)) return { reason: RouteReason.UnsupportedValue, message: `filter ${type} appears more than once.` };
    seen.add(type);
    const r = convertFilter(type, f, env);
    if (isProblem(r)) return r;
    out.push(r);
  }
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
    return { reason: RouteReason.IncompatibleFilters, message: 'RequestRedirect and URLRewrite cannot be used together.' };
  }
  return out;
}

function convertFilter(type: string, f: Record<string, unknown>, env: FilterEnv): IRFilter | RuleProblem {
  switch (type) {
    case 'RequestHeaderModifier':
    case 'ResponseHeaderModifier': {
      const m = headerModifier(type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.responseHeaderModifier);
      if (isProblem(m)) return m;
      return { type, ...m };
    }
    case 'RequestRedirect': {
      const r = obj(f.requestRedirect);
      const scheme = r.scheme === undefined ? undefined : str(r.scheme);
      if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') return { reason: RouteReason.UnsupportedValue, message: `redirect scheme ${JSON.stringify(r.scheme)} is not supported.` };
      const statusCode = r.statusCode === undefined ? 302 : int(r.statusCode);
      if (statusCode === undefined || ![301, 302, 303, 307, 308].includes(statusCode)) return { reason: RouteReason.UnsupportedValue, message: `redirect statusCode ${JSON.stringify(r.statusCode)} is not supported.` };
      const hostname = r.hostname === undefined ? undefined : str(r.hostname);
      if (r.hostname !== undefined && (hostname === undefined || !isHostname(hostname, false))) return { reason: RouteReason.UnsupportedValue, message: 'redirect hostname is invalid.' };
      const port = r.port === undefined ? undefined : int(r.port);
      if (r.port !== undefined && (port === undefined || port < 1 || port > 65535)) return { reason: RouteReason.UnsupportedValue, message: 'redirect port is invalid.' };
      const path = pathModifier(r.path, env);
      if (isProblem(path)) return path;
      const out: IRFilter = { type, statusCode };
      if (scheme) out.scheme = scheme;
      if (hostname) out.hostname = hostname;
      if (port !== undefined) out.port = port;
      if (path) out.path = path;
      return out;
    }
    case 'URLRewrite': {
      const r = obj(f.urlRewrite);
      const hostname = r.hostname === undefined ? undefined : str(r.hostname);
      if (r.hostname !== undefined && (hostname === undefined || !isHostname(hostname, false))) return { reason: RouteReason.UnsupportedValue, message: 'rewrite hostname is invalid.' };
      const path = pathModifier(r.path, env);
      if (isProblem(path)) return path;
      const out: IRFilter = { type };
      if (hostname) out.hostname = hostname;
      if (path) out.path = path;
      return out;
    }
    case 'RequestMirror': {
      const m = obj(f.requestMirror);
      let percent = 100;
      if (m.percent !== undefined) percent = num(m.percent) ?? -1;
      else if (m.fraction !== undefined) {
        const fr = obj(m.fraction);
        const n = num(fr.numerator);
        const d = fr.denominator === undefined ? 100 : num(fr.denominator);
        percent = n === undefined || d === undefined || d <= 0 || n > d ? -1 : (n / d) * 100;
      }
      if (percent < 0 || percent > 100) return { reason: RouteReason.UnsupportedValue, message: 'mirror percent/fraction is invalid.' };
      const out: IRFilter = { type, percent };
      const id = backendFor(env, m.backendRef, env.routeKind === 'GRPCRoute' ? 'grpc' : 'http');
      if (id) out.backendId = id;
      return out;
    }
    case 'CORS': {
      const c = obj(f.cors);
      const maxAge = c.maxAge === undefined ? 5 : int(c.maxAge);
      if (maxAge === undefined || maxAge < 0) return { reason: RouteReason.UnsupportedValue, message: 'CORS maxAge is invalid.' };
      return {
        type,
        allowOrigins: strArr(c.allowOrigins),
        allowCredentials: c.allowCredentials === true,
        allowMethods: strArr(c.allowMethods),
        allowHeaders: strArr(c.allowHeaders),
        exposeHeaders: strArr(c.exposeHeaders),
        maxAge,
      };
    }
    case 'ExternalAuth': {
      const a = obj(f.externalAuth);
      const protocol = str(a.protocol);
      if (protocol !== 'HTTP' && protocol !== 'GRPC') return { reason: RouteReason.UnsupportedValue, message: `externalAuth protocol ${JSON.stringify(a.protocol)} is not supported.` };
      const out: IRFilter = { type, protocol };
      // An unresolved auth backend leaves backendId unset: the data plane fails closed.
      const id = backendFor(env, a.backendRef, protocol === 'GRPC' ? 'grpc' : 'http');
      if (id) out.backendId = id;
      if (protocol === 'HTTP') {
        const h = obj(a.http);
        if (str(h.path)) out.path = str(h.path);
        if (Array.isArray(h.allowedHeaders)) out.allowedRequestHeaders = strArr(h.allowedHeaders);
        if (Array.isArray(h.allowedResponseHeaders)) out.allowedResponseHeaders = strArr(h.allowedResponseHeaders);
      } else if (Array.isArray(obj(a.grpc).allowedHeaders)) {
        out.allowedRequestHeaders = strArr(obj(a.grpc).allowedHeaders);
      }
      if (isObj(a.forwardBody)) out.forwardBody = { maxSize: int(a.forwardBody.maxSize) ?? 0 };
      return out;
    }
    default: {
      // ExtensionRef: Portico knows no extension kinds; the spec says answer an error, not skip.
      // GEP-1364 words the status: a reference failure (ResolvedRefs=False, InvalidKind), the
      // route stays Accepted and its traffic through the filter gets 500.
      const ref = obj(f.extensionRef);
      const kind = `${str(ref.group) ? `${str(ref.group)}/` : ''}${str(ref.kind) ?? ''}`;
      env.onRef({
        ok: false,
        reason: RouteReason.InvalidKind,
        message: `ExtensionRef ${kind} ${JSON.stringify(str(ref.name) ?? '')} cannot be resolved: Portico supports no extension filter kinds; requests through this filter are answered 500.`,
      });
      return { type: 'DirectResponse', status: 500 };
    }
  }
}

export { isProblem };
