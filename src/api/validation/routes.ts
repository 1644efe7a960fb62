// The route kinds (apis/v1/httproute_types.go, grpcroute_types.go, tlsroute_types.go,
// tcproute_types.go, udproute_types.go): schema constraints and CEL rules of the experimental CRDs.

import type { Node, Rule } from './schema.ts';
import { bool, int, list, obj, rule, str, withDefault } from './schema.ts';
import {
  backendRef,
  BackendObjectRef,
  Duration,
  durationMs,
  existsOne,
  has,
  HeaderName,
  headerModifier,
  Hostname,
  INT32_MAX,
  LocalObjectRef,
  noRepeatRules,
  P,
  ParentRefs,
  PortNumber,
  PreciseHostname,
  RequestMirror,
  RouteHostnames,
  SectionName,
  SessionPersistence,
  size,
  unionRules,
  uniqueRuleNames,
  UseDefaultGateways,
} from './common.ts';

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

// ---- HTTPRoute filters ----

const HTTPHeaderValue = str({ min: 1, max: 4096, pattern: P.headerValue });

const PathModifier = obj(
  {
    type: str({ enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }),
    replaceFullPath: str({ max: 1024 }),
    replacePrefixMatch: str({ max: 1024 }),
  },
  {
    required: ['type'],
    rules: [
      rule("replaceFullPath must be specified when type is set to 'ReplaceFullPath'", (p: any) => p.type !== 'ReplaceFullPath' || has(p, 'replaceFullPath')),
      rule("type must be 'ReplaceFullPath' when replaceFullPath is set", (p: any) => !has(p, 'replaceFullPath') || p.type === 'ReplaceFullPath'),
      rule("replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'", (p: any) => p.type !== 'ReplacePrefixMatch' || has(p, 'replacePrefixMatch')),
      rule("type must be 'ReplacePrefixMatch' when replacePrefixMatch is set", (p: any) => !has(p, 'replacePrefixMatch') || p.type === 'ReplacePrefixMatch'),
    ],
  },
);

const RequestRedirect = obj({
  scheme: str({ enum: ['http', 'https'] }),
  hostname: PreciseHostname,
  path: PathModifier,
  port: PortNumber,
  statusCode: withDefault(int({ enum: [301, 302, 303, 307, 308] }), 302),
});

const URLRewrite = obj({ hostname: PreciseHostname, path: PathModifier });

/** `!('*' in self && self.size() > 1)` for the CORS lists. */
const starAlone = (what: string, others = 'methods'): Rule => rule(`${what} cannot contain '*' alongside other ${others}`, (a: any[]) => !(a.includes('*') && a.length > 1));

const CORS = obj({
  allowOrigins: list(
    str({
      min: 1,
      max: 253,
      pattern: {
        // eslint-disable-next-line no-useless-escape -- written exactly as the CRD writes it
        re: /(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9\-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)/,
        says: 'must be "*" or an origin "http(s)://host[:port]" (the host may start with "*.")',
      },
    }),
    { max: 64, set: true, rules: [starAlone('AllowOrigins', 'origins')] },
  ),
  allowCredentials: bool(),
  allowMethods: list(str({ enum: [...HTTP_METHODS, '*'] }), { max: 9, set: true, rules: [starAlone('AllowMethods')] }),
  allowHeaders: list(HeaderName, { max: 64, set: true, rules: [starAlone('AllowHeaders')] }),
  exposeHeaders: list(HeaderName, { max: 64, set: true }),
  maxAge: withDefault(int({ min: 1, max: INT32_MAX }), 5),
});

const ExternalAuth = obj(
  {
    protocol: str({ enum: ['HTTP', 'GRPC'] }),
    backendRef: BackendObjectRef,
    grpc: obj({ allowedHeaders: list(str(), { max: 64, set: true }) }),
    http: obj({
      path: str({ max: 1024, pattern: P.absPath }),
      allowedHeaders: list(str(), { max: 64, set: true }),
      allowedResponseHeaders: list(str(), { max: 64, set: true }),
    }),
    forwardBody: obj({ maxSize: int() }),
  },
  {
    required: ['backendRef', 'protocol'],
    rules: [
      rule("grpc must be specified when protocol is set to 'GRPC'", (a: any) => a.protocol !== 'GRPC' || has(a, 'grpc')),
      rule("protocol must be 'GRPC' when grpc is set", (a: any) => !has(a, 'grpc') || a.protocol === 'GRPC'),
      rule("http must be specified when protocol is set to 'HTTP'", (a: any) => a.protocol !== 'HTTP' || has(a, 'http')),
      rule("protocol must be 'HTTP' when http is set", (a: any) => !has(a, 'http') || a.protocol === 'HTTP'),
    ],
  },
);

const HTTPRouteFilter = obj(
  {
    type: str({ enum: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'RequestRedirect', 'URLRewrite', 'ExtensionRef', 'CORS', 'ExternalAuth'] }),
    requestHeaderModifier: headerModifier(HTTPHeaderValue),
    responseHeaderModifier: headerModifier(HTTPHeaderValue),
    requestMirror: RequestMirror,
    requestRedirect: RequestRedirect,
    urlRewrite: URLRewrite,
    cors: CORS,
    externalAuth: ExternalAuth,
    extensionRef: LocalObjectRef,
  },
  {
    required: ['type'],
    rules: unionRules({
      CORS: 'cors',
      RequestHeaderModifier: 'requestHeaderModifier',
      ResponseHeaderModifier: 'responseHeaderModifier',
      RequestMirror: 'requestMirror',
      RequestRedirect: 'requestRedirect',
      URLRewrite: 'urlRewrite',
      ExtensionRef: 'extensionRef',
      ExternalAuth: 'externalAuth',
    }),
  },
);

const HTTPRouteFilters = list(HTTPRouteFilter, {
  max: 16,
  rules: [
    rule('May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both', (fs: any[]) =>
      !(fs.some((f) => f?.type === 'RequestRedirect') && fs.some((f) => f?.type === 'URLRewrite')),
    ),
    ...noRepeatRules(['CORS', 'RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite']),
  ],
});

// ---- HTTPRoute matches ----

const exactOrPrefix = (p: any): boolean => p.type === 'Exact' || p.type === 'PathPrefix';
const pathRule = (message: string, ok: (v: string) => boolean): Rule => rule(message, (p: any) => !exactOrPrefix(p) || ok(p.value));

const HTTPPathMatch = obj(
  {
    type: withDefault(str({ enum: ['Exact', 'PathPrefix', 'RegularExpression'] }), 'PathPrefix'),
    value: withDefault(str({ max: 1024 }), '/'),
  },
  {
    rules: [
      pathRule("value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']", (v) => v.startsWith('/')),
      pathRule("must not contain '//' when type one of ['Exact', 'PathPrefix']", (v) => !v.includes('//')),
      pathRule("must not contain '/./' when type one of ['Exact', 'PathPrefix']", (v) => !v.includes('/./')),
      pathRule("must not contain '/../' when type one of ['Exact', 'PathPrefix']", (v) => !v.includes('/../')),
      pathRule("must not contain '%2f' when type one of ['Exact', 'PathPrefix']", (v) => !v.includes('%2f')),
      pathRule("must not contain '%2F' when type one of ['Exact', 'PathPrefix']", (v) => !v.includes('%2F')),
      pathRule("must not contain '#' when type one of ['Exact', 'PathPrefix']", (v) => !v.includes('#')),
      pathRule("must not end with '/..' when type one of ['Exact', 'PathPrefix']", (v) => !v.endsWith('/..')),
      pathRule("must not end with '/.' when type one of ['Exact', 'PathPrefix']", (v) => !v.endsWith('/.')),
      rule("type must be one of ['Exact', 'PathPrefix', 'RegularExpression']", (p: any) => exactOrPrefix(p) || p.type === 'RegularExpression'),
      pathRule(
        "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']",
        (v) => P.absPath.re.test(v),
      ),
    ],
  },
);

const MatchType = withDefault(str({ enum: ['Exact', 'RegularExpression'] }), 'Exact');

const HTTPRouteMatch = obj({
  path: withDefault(HTTPPathMatch, { type: 'PathPrefix', value: '/' }),
  headers: list(obj({ type: MatchType, name: HeaderName, value: HTTPHeaderValue }, { required: ['name', 'value'] }), { max: 16, mapKeys: ['name'] }),
  queryParams: list(obj({ type: MatchType, name: HeaderName, value: str({ min: 1, max: 1024 }) }, { required: ['name', 'value'] }), { max: 16, mapKeys: ['name'] }),
  method: str({ enum: HTTP_METHODS }),
});

// ---- HTTPRoute rules ----

/** Whether `filters` holds exactly one filter of `field` (requestRedirect/urlRewrite) replacing the prefix match. */
const oneReplacePrefix = (filters: any, field: string): boolean =>
  Array.isArray(filters) && existsOne(filters, (f: any) => has(f, field) && has(f[field], 'path') && f[field].path.type === 'ReplacePrefixMatch' && has(f[field].path, 'replacePrefixMatch'));
const singlePathPrefix = (r: any): boolean => size(r.matches) === 1 && has(r.matches[0], 'path') && r.matches[0].path.type === 'PathPrefix';

const DEFAULT_MATCHES = [{ path: { type: 'PathPrefix', value: '/' } }];

const HTTPRouteRule = obj(
  {
    name: SectionName,
    matches: withDefault(list(HTTPRouteMatch, { max: 64 }), DEFAULT_MATCHES),
    filters: HTTPRouteFilters,
    backendRefs: list(backendRef({ filters: HTTPRouteFilters }), { max: 16 }),
    timeouts: obj(
      { request: Duration, backendRequest: Duration },
      {
        rules: [
          rule(
            'backendRequest timeout cannot be longer than request timeout',
            (t: any) => !(has(t, 'request') && has(t, 'backendRequest') && durationMs(t.request) !== 0 && durationMs(t.backendRequest) > durationMs(t.request)),
          ),
        ],
      },
    ),
    retry: obj({ codes: list(int({ min: 400, max: 599 }), { set: true }), attempts: int({ min: 1 }), backoff: Duration }),
    sessionPersistence: SessionPersistence,
  },
  {
    rules: [
      rule(
        'RequestRedirect filter must not be used together with backendRefs',
        (r: any) => !(has(r, 'backendRefs') && size(r.backendRefs) > 0) || !has(r, 'filters') || r.filters.every((f: any) => !has(f, 'requestRedirect')),
      ),
      rule(
        'When using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
        (r: any) => !oneReplacePrefix(r.filters, 'requestRedirect') || singlePathPrefix(r),
      ),
      rule(
        'When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
        (r: any) => !oneReplacePrefix(r.filters, 'urlRewrite') || singlePathPrefix(r),
      ),
      rule(
        'Within backendRefs, when using RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
        (r: any) => !(Array.isArray(r.backendRefs) && existsOne(r.backendRefs, (b: any) => oneReplacePrefix(b.filters, 'requestRedirect'))) || singlePathPrefix(r),
      ),
      rule(
        'Within backendRefs, When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
        (r: any) => !(Array.isArray(r.backendRefs) && existsOne(r.backendRefs, (b: any) => oneReplacePrefix(b.filters, 'urlRewrite'))) || singlePathPrefix(r),
      ),
    ],
  },
);

/** Sum of matches across rules: `has(r.matches) ? size : 0` (GRPCRoute) or `r.matches.size()` (HTTPRoute, always defaulted). */
const totalMatches = (rs: any[]): number => rs.reduce((n, r) => n + size(r?.matches), 0);
const matchesLimit = rule(
  'While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128',
  (rs: any[]) => totalMatches(rs) <= 128,
);

export const HTTPRouteSpec = obj({
  parentRefs: ParentRefs,
  useDefaultGateways: UseDefaultGateways,
  hostnames: RouteHostnames,
  rules: withDefault(list(HTTPRouteRule, { min: 1, max: 16, rules: [matchesLimit, uniqueRuleNames] }), [{ matches: DEFAULT_MATCHES }]),
});

// ---- GRPCRoute ----

// `iu`: RE2's (?i) folds case the Unicode way ("ſ" matches "s"), as JavaScript does only with `u`.
const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/iu;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

const GRPCMethodMatch = obj(
  { type: MatchType, service: str({ max: 1024 }), method: str({ max: 1024 }) },
  {
    rules: [
      rule("One or both of 'service' or 'method' must be specified", (m: any) => !has(m, 'type') || has(m, 'service') || has(m, 'method')),
      rule(
        'service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)',
        (m: any) => !(m.type === 'Exact' && has(m, 'service')) || GRPC_SERVICE.test(m.service),
      ),
      rule('method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)', (m: any) => !(m.type === 'Exact' && has(m, 'method')) || GRPC_METHOD.test(m.method)),
    ],
  },
);

const GRPCRouteFilter = obj(
  {
    type: str({ enum: ['ResponseHeaderModifier', 'RequestHeaderModifier', 'RequestMirror', 'ExtensionRef'] }),
    requestHeaderModifier: headerModifier(HTTPHeaderValue),
    responseHeaderModifier: headerModifier(HTTPHeaderValue),
    requestMirror: RequestMirror,
    extensionRef: LocalObjectRef,
  },
  {
    required: ['type'],
    rules: unionRules({
      RequestHeaderModifier: 'requestHeaderModifier',
      ResponseHeaderModifier: 'responseHeaderModifier',
      RequestMirror: 'requestMirror',
      ExtensionRef: 'extensionRef',
    }),
  },
);

const GRPCRouteFilters = list(GRPCRouteFilter, { max: 16, rules: noRepeatRules(['RequestHeaderModifier', 'ResponseHeaderModifier']) });

const GRPCRouteRule = obj({
  name: SectionName,
  matches: list(
    obj({
      method: GRPCMethodMatch,
      headers: list(obj({ type: MatchType, name: HeaderName, value: str({ min: 1, max: 4096 }) }, { required: ['name', 'value'] }), { max: 16, mapKeys: ['name'] }),
    }),
    { max: 64 },
  ),
  filters: GRPCRouteFilters,
  backendRefs: list(backendRef({ filters: GRPCRouteFilters }), { max: 16 }),
  sessionPersistence: SessionPersistence,
});

export const GRPCRouteSpec = obj({
  parentRefs: ParentRefs,
  useDefaultGateways: UseDefaultGateways,
  hostnames: RouteHostnames,
  rules: list(GRPCRouteRule, { max: 16, rules: [matchesLimit, uniqueRuleNames] }),
});

// ---- TLSRoute, TCPRoute, UDPRoute ----

const RFC1123 = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const IPV4ISH = /^[0-9.]+$/;

/** CEL isIP(): a textual IPv4 or IPv6 address. Hostnames may not be one. */
function isIPAddress(h: string): boolean {
  return (IPV4ISH.test(h) && isIPv4Strict(h)) || (h.includes(':') && /^[0-9a-fA-F:.]+$/.test(h));
}
function isIPv4Strict(h: string): boolean {
  const parts = h.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

const TLSRouteHostnames = list(Hostname, {
  min: 1,
  max: 1024,
  rules: [
    rule('Hostnames cannot contain an IP', (hs: string[]) => hs.every((h) => !isIPAddress(h))),
    rule('Hostnames must be valid based on RFC-1123', (hs: string[]) => hs.every((h) => h.includes('*') || RFC1123.test(h))),
    rule('Wildcards on hostnames must be the first label, and the rest of hostname must be valid based on RFC-1123', (hs: string[]) =>
      hs.every((h) => !h.includes('*') || (h.startsWith('*.') && RFC1123.test(h.slice(2)))),
    ),
  ],
});

/** The one rule of TLS/TCP/UDP routes: a name and 1..16 backendRefs. */
const L4RouteRule = obj({ name: SectionName, backendRefs: list(backendRef(), { min: 1, max: 16 }) }, { required: ['backendRefs'] });

/** v1 (and TLSRoute v1alpha3) allow exactly one rule; the older v1alpha2 up to 16 with unique names. */
const l4Rules = (v1alpha2: boolean): Node =>
  v1alpha2 ? list(L4RouteRule, { min: 1, max: 16, rules: [uniqueRuleNames] }) : list(L4RouteRule, { min: 1, max: 1 });

export function tlsRouteSpec(version: string) {
  const old = version === 'v1alpha2';
  return obj(
    {
      parentRefs: ParentRefs,
      useDefaultGateways: UseDefaultGateways,
      hostnames: old ? list(Hostname, { max: 1024 }) : TLSRouteHostnames,
      rules: l4Rules(old),
    },
    { required: old ? ['rules'] : ['hostnames', 'rules'] },
  );
}

export function l4RouteSpec(version: string) {
  return obj({ parentRefs: ParentRefs, useDefaultGateways: UseDefaultGateways, rules: l4Rules(version === 'v1alpha2') }, { required: ['rules'] });
}
