// CORS filter: answers preflights itself and adds the allow/expose headers to actual responses.
// Origins: "*" (any), exact "scheme://host[:port]", or "scheme://*.suffix[:port]" where "*" is a
// greedy leftmost wildcard (one or more labels). An allowed origin is always echoed back, which is
// the only form that works with credentials.
import type { IRFilter } from '../../ir/types.ts';
import type { HeaderBag } from './headers.ts';

interface OriginRule {
  scheme: string;
  /** Exact host, or the suffix (".bar.com") for a wildcard. */
  host: string;
  wildcard: boolean;
  port: string;
}

export interface CorsSpec {
  anyOrigin: boolean;
  exact: Set<string>;
  rules: OriginRule[];
  credentials: boolean;
  methods: string;
  anyMethod: boolean;
  headers: string;
  anyHeader: boolean;
  expose: string;
  maxAge: string;
}

export function compileCors(f: Omit<Extract<IRFilter, { type: 'CORS' }>, 'type'>): CorsSpec {
  const spec: CorsSpec = {
    anyOrigin: false,
    exact: new Set(),
    rules: [],
    credentials: f.allowCredentials,
    methods: f.allowMethods.filter((m) => m !== '*').join(', '),
    anyMethod: f.allowMethods.includes('*'),
    headers: f.allowHeaders.filter((h) => h !== '*').join(', '),
    anyHeader: f.allowHeaders.includes('*'),
    expose: f.exposeHeaders.join(', '),
    maxAge: String(f.maxAge),
  };
  for (const o of f.allowOrigins) {
    if (o === '*') { spec.anyOrigin = true; continue; }
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/:]+)(?::(\d+))?$/i.exec(o);
    if (!m) continue;
    const host = m[2].toLowerCase();
    if (host.startsWith('*')) spec.rules.push({ scheme: m[1].toLowerCase(), host: host.slice(1), wildcard: true, port: m[3] ?? '' });
    else spec.exact.add(o.toLowerCase());
  }
  return spec;
}

export function originAllowed(spec: CorsSpec, origin: string): boolean {
  if (spec.anyOrigin) return true;
  const lower = origin.toLowerCase();
  if (spec.exact.has(lower)) return true;
  if (spec.rules.length === 0) return false;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/:]+)(?::(\d+))?$/.exec(lower);
  if (!m) return false;
  for (const r of spec.rules) {
    if (r.scheme === m[1] && r.port === (m[3] ?? '') && m[2].endsWith(r.host) && m[2].length > r.host.length) return true;
  }
  return false;
}

/** Response headers of a preflight from an allowed origin. */
export function preflightHeaders(spec: CorsSpec, origin: string, reqMethod: string, reqHeaders: string | undefined): HeaderBag {
  const h: HeaderBag = {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': spec.anyMethod ? reqMethod || '*' : spec.methods,
    'access-control-max-age': spec.maxAge,
    vary: 'Origin',
  };
  const allowHeaders = spec.anyHeader ? reqHeaders ?? '' : spec.headers;
  if (allowHeaders !== '') h['access-control-allow-headers'] = allowHeaders;
  if (spec.expose !== '') h['access-control-expose-headers'] = spec.expose;
  if (spec.credentials) h['access-control-allow-credentials'] = 'true';
  return h;
}

/** Adds CORS headers to an actual (non-preflight) response for an allowed origin. */
export function addActualHeaders(spec: CorsSpec, origin: string, headers: HeaderBag): void {
  headers['access-control-allow-origin'] = origin;
  if (spec.credentials) headers['access-control-allow-credentials'] = 'true';
  if (spec.expose !== '') headers['access-control-expose-headers'] = spec.expose;
  const vary = headers.vary;
  headers.vary = vary === undefined ? 'Origin' : `${vary}, Origin`;
}
