// The compiled form of one IR generation: what the request path reads. Built by compile.ts, never
// mutated after it is live (except counters and round-robin cursors).
import type { SecureContext } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import type { Source } from '../ir/types.ts';
import type { HostTable } from './router/hosts.ts';
import type { CompiledMatch } from './router/match.ts';
import type { HeaderOps } from './filters/headers.ts';
import type { RedirectSpec } from './filters/redirect.ts';
import type { PathModifier } from './filters/path.ts';
import type { CorsSpec } from './filters/cors.ts';
import type { EndpointRuntime } from './upstream/pools.ts';
import type { RetryBudget } from './upstream/retry-budget.ts';
import type { Histogram, RequestCounter } from './metrics.ts';

export interface Generation {
  id: number;
  ports: Map<string, PortConfig>;
}

export interface PortConfig {
  /** "address:port" */
  key: string;
  address: string;
  port: number;
  protocol: 'HTTP' | 'HTTPS';
  listeners: HostTable<ListenerRuntime>;
  /** HTTPS: certificate choice by SNI. */
  tls?: PortTLS;
  /** HTTPS: some listener validates client certificates (the server must ask for them). */
  mtls: boolean;
  /** HTTPS port that also has TLS listeners: the l4 TLS server binds it and delegates by SNI. */
  sharedWithTls?: boolean;
  /** HTTPS: some listener checks connections after the handshake (client certificate, minimum TLS version). */
  checkConnections?: boolean;
  /** HTTPS: some listener sets a TLS version range; connections go to a TLS server per range by SNI (listeners/tls-versions.ts). */
  tlsVersions?: boolean;
}

export interface PortTLS {
  /** SNI → listener certificates. */
  byHost: HostTable<ListenerCerts>;
  /** Used without SNI, or when no listener matches it. */
  fallback: SecureContext;
  /** The same certificate as PEM, for the server's default context (clients without SNI), with its listener's client CA bundle. */
  fallbackPem: { cert: string; key: string; ca?: string };
}

export interface ListenerCerts {
  certs: { ctx: SecureContext; x509?: X509Certificate }[];
}

export interface ListenerRuntime {
  id: string;
  gateway: string;
  name: string;
  port: number;
  scheme: 'http' | 'https';
  /** Frontend client certificate validation mode, when configured. */
  clientValidation?: 'AllowValidOnly' | 'AllowInsecureFallback';
  /** tls.options portico.dev/tls-min-version (HTTPS): lowest version the handshake accepts (checked again after it). */
  minTlsVersion?: string;
  /** tls.options portico.dev/tls-max-version (HTTPS): highest version the handshake offers. */
  maxTlsVersion?: string;
  vhosts: HostTable<VirtualHostRuntime>;
  /** Requests answered without a route (404, 421). */
  noRoute: RequestCounter;
  latency: Histogram;
}

export interface VirtualHostRuntime {
  routes: RouteRuntime[];
}

export interface CompiledFilters {
  requestHeaders: HeaderOps[];
  responseHeaders: HeaderOps[];
  redirect?: RedirectSpec;
  rewriteHost?: string;
  rewritePath?: PathModifier;
  mirrors: MirrorRuntime[];
  cors?: CorsSpec;
  extAuth?: ExtAuthRuntime;
  directStatus?: number;
  /** True when any of the above is set: lets the handler skip all filter work in one test. */
  any: boolean;
}

export interface MirrorRuntime {
  backend: BackendRuntime;
  /** 0..100 */
  percent: number;
}

export interface ExtAuthRuntime {
  /** Envoy ext_authz over gRPC (Authorization/Check) instead of an HTTP call. */
  grpc: boolean;
  backend?: BackendRuntime;
  path: string;
  allowedRequestHeaders?: string[];
  allowedResponseHeaders: string[];
  /** forwardBody.maxSize; 0: the body is not sent to the auth service. */
  forwardBodyMax: number;
}

export interface BackendRuntime {
  id: string;
  protocol: string;
  endpoints: EndpointRuntime[];
  /** Round-robin cursor. */
  next: number;
  /** TLS backends: SNI sent on every request (undici would otherwise derive it from Host). */
  sni?: string;
  /** Backend TLS could not be set up: every request answers 500. */
  broken: boolean;
  latency: Histogram;
  /** XBackendTrafficPolicy retry budget of the backend's Service; absent: retries are not budgeted. */
  retryBudget?: RetryBudget;
}

export interface BackendChoice {
  backend?: BackendRuntime;
  /** Answered for this share when the backendRef is invalid. */
  invalidStatus: number;
  filters: CompiledFilters;
  counter: RequestCounter;
  name: string;
}

export interface RouteRuntime {
  source: Source;
  /** "namespace/name/rule", for logs and the debug header. */
  label: string;
  /** "namespace/name" and the rule (its name, else its index), for the access log. */
  routeName: string;
  rule: string;
  grpc: boolean;
  match: CompiledMatch;
  /** The PathPrefix this route matched on (without trailing slash), for ReplacePrefixMatch. */
  prefix?: string;
  filters: CompiledFilters;
  direct?: { status: number; body?: string };
  choices: BackendChoice[];
  /** Cumulative weights, parallel to choices; total is the last entry. */
  cumulative: number[];
  totalWeight: number;
  /** Counter for answers without a backend (redirect, direct response, 500). */
  counter: RequestCounter;
  requestMs: number;
  backendRequestMs: number;
  retry?: { codes: Set<number>; attempts: number; backoffMs: number };
  session?: SessionRuntime;
}

export interface SessionRuntime {
  type: 'Cookie' | 'Header';
  /** Lower-cased for the header type. */
  name: string;
  cookieSuffix: string;
  /** 0: no limit. */
  absoluteMs: number;
  idleMs: number;
}
