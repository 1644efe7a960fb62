// The route kinds: HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute (apis/v1/*route_types.go),
// with every standard and experimental field of v1.6. Older served versions (v1beta1,
// v1alpha2/3) have the same shapes for what Portico reads.
import type { KubeObject } from './meta.ts';
import type {
  BackendObjectReference, BackendRef, CommonRouteSpec, Duration, Fraction, Hostname,
  LocalObjectReference, RouteStatus, SessionPersistence,
} from './common.ts';

// ---- HTTPRoute ----

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type HeaderMatchType = 'Exact' | 'RegularExpression';
export type HTTPMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'CONNECT' | 'OPTIONS' | 'TRACE' | 'PATCH';
export const HTTP_METHODS: readonly HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

export interface HTTPPathMatch {
  /** Default PathPrefix. */
  type?: PathMatchType;
  /** Default "/". */
  value?: string;
}

export interface HTTPHeaderMatch {
  /** Default Exact. */
  type?: HeaderMatchType;
  name: string;
  value: string;
}

export interface HTTPQueryParamMatch {
  type?: HeaderMatchType;
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path?: HTTPPathMatch;
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPQueryParamMatch[];
  method?: HTTPMethod;
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPHeaderFilter {
  set?: HTTPHeader[];
  add?: HTTPHeader[];
  remove?: string[];
}

export type HTTPPathModifierType = 'ReplaceFullPath' | 'ReplacePrefixMatch';

export interface HTTPPathModifier {
  type: HTTPPathModifierType;
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRequestRedirectFilter {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: HTTPPathModifier;
  port?: number;
  /** 301, 302 (default), 303, 307, 308. */
  statusCode?: number;
}

export interface HTTPURLRewriteFilter {
  hostname?: string;
  path?: HTTPPathModifier;
}

export interface HTTPRequestMirrorFilter {
  backendRef: BackendObjectReference;
  percent?: number;
  fraction?: Fraction;
}

export interface HTTPCORSFilter {
  allowOrigins?: string[];
  allowCredentials?: boolean;
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  /** Seconds, default 5. */
  maxAge?: number;
}

export interface GRPCAuthConfig {
  allowedHeaders?: string[];
}

export interface HTTPAuthConfig {
  path?: string;
  allowedHeaders?: string[];
  allowedResponseHeaders?: string[];
}

export interface ForwardBodyConfig {
  maxSize?: number;
}

/** Experimental (GEP-1494). */
export interface HTTPExternalAuthFilter {
  protocol: 'HTTP' | 'GRPC';
  backendRef: BackendObjectReference;
  grpc?: GRPCAuthConfig;
  http?: HTTPAuthConfig;
  forwardBody?: ForwardBodyConfig;
}

export type HTTPRouteFilterType =
  | 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' | 'RequestRedirect'
  | 'URLRewrite' | 'CORS' | 'ExternalAuth' | 'ExtensionRef';

export interface HTTPRouteFilter {
  type: HTTPRouteFilterType;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestMirror?: HTTPRequestMirrorFilter;
  requestRedirect?: HTTPRequestRedirectFilter;
  urlRewrite?: HTTPURLRewriteFilter;
  cors?: HTTPCORSFilter;
  externalAuth?: HTTPExternalAuthFilter;
  extensionRef?: LocalObjectReference;
}

export interface HTTPBackendRef extends BackendRef {
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteTimeouts {
  request?: Duration;
  backendRequest?: Duration;
}

/** Experimental (GEP-1731). */
export interface HTTPRouteRetry {
  codes?: number[];
  attempts?: number;
  backoff?: Duration;
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  timeouts?: HTTPRouteTimeouts;
  retry?: HTTPRouteRetry;
  sessionPersistence?: SessionPersistence;
}

export interface HTTPRouteSpec extends CommonRouteSpec {
  hostnames?: Hostname[];
  rules?: HTTPRouteRule[];
}

export interface HTTPRoute extends KubeObject {
  kind: 'HTTPRoute';
  spec: HTTPRouteSpec;
  status?: RouteStatus;
}

// ---- GRPCRoute ----

export interface GRPCMethodMatch {
  /** Default Exact. */
  type?: 'Exact' | 'RegularExpression';
  service?: string;
  method?: string;
}

export interface GRPCHeaderMatch {
  type?: HeaderMatchType;
  name: string;
  value: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: GRPCHeaderMatch[];
}

export type GRPCRouteFilterType = 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror' | 'ExtensionRef';

export interface GRPCRouteFilter {
  type: GRPCRouteFilterType;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestMirror?: HTTPRequestMirrorFilter;
  extensionRef?: LocalObjectReference;
}

export interface GRPCBackendRef extends BackendRef {
  filters?: GRPCRouteFilter[];
}

export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  filters?: GRPCRouteFilter[];
  backendRefs?: GRPCBackendRef[];
  sessionPersistence?: SessionPersistence;
}

export interface GRPCRouteSpec extends CommonRouteSpec {
  hostnames?: Hostname[];
  rules?: GRPCRouteRule[];
}

export interface GRPCRoute extends KubeObject {
  kind: 'GRPCRoute';
  spec: GRPCRouteSpec;
  status?: RouteStatus;
}

// ---- TLSRoute, TCPRoute, UDPRoute ----

export interface L4RouteRule {
  name?: string;
  backendRefs?: BackendRef[];
}

export interface TLSRouteSpec extends CommonRouteSpec {
  hostnames?: Hostname[];
  rules?: L4RouteRule[];
}

export interface TLSRoute extends KubeObject {
  kind: 'TLSRoute';
  spec: TLSRouteSpec;
  status?: RouteStatus;
}

export interface TCPRouteSpec extends CommonRouteSpec {
  rules?: L4RouteRule[];
}

export interface TCPRoute extends KubeObject {
  kind: 'TCPRoute';
  spec: TCPRouteSpec;
  status?: RouteStatus;
}

export interface UDPRouteSpec extends CommonRouteSpec {
  rules?: L4RouteRule[];
}

export interface UDPRoute extends KubeObject {
  kind: 'UDPRoute';
  spec: UDPRouteSpec;
  status?: RouteStatus;
}

export type RouteKind = 'HTTPRoute' | 'GRPCRoute' | 'TLSRoute' | 'TCPRoute' | 'UDPRoute';
export const ROUTE_KINDS: readonly RouteKind[] = ['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute'];
export type AnyRoute = HTTPRoute | GRPCRoute | TLSRoute | TCPRoute | UDPRoute;
