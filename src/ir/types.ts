// The IR: what translate() hands the data plane. Plain serializable data, no classes, no
// functions, data-plane neutral. Lists are already in the order the data plane must use
// (listeners by specificity, routes by the spec's precedence), so the data plane never sorts.
//
// Every node carries `source`, so any request can be traced back to the object that routed it.
//
// This file is a contract between translate/ and dataplane/: change it only by adding optional
// fields, and keep both sides in step.

export interface Source {
  kind: string;
  namespace?: string;
  name: string;
  /** Listener name (for Gateway / ListenerSet sources). */
  sectionName?: string;
  /** Index of the rule in the route's spec.rules. */
  rule?: number;
  /** rules[].name, when the route author named the rule. */
  ruleName?: string;
  /** Index of the match in rules[].matches (absent for the implicit match-all). */
  match?: number;
}

export interface IR {
  /** Generation of the snapshot this IR was computed from. */
  generation: number;
  gateways: IRGateway[];
  /** Backend clusters by id; routes refer to them by id. */
  backends: Record<string, IRBackend>;
}

export interface IRGateway {
  source: Source;
  /** Addresses to bind (IP literals). Empty means the data plane's --bind-address. */
  addresses: string[];
  /** Only listeners that are Accepted; by port, then most specific hostname first. */
  listeners: IRListener[];
  /** spec.tls.backend.clientCertificateRef, resolved: presented to every TLS backend of this gateway. */
  backendClientCertificate?: IRCertificate;
}

export type ListenerProtocol = 'HTTP' | 'HTTPS' | 'TLS' | 'TCP' | 'UDP';

export interface IRListener {
  /** kind Gateway or ListenerSet; sectionName is the listener name. */
  source: Source;
  /** Unique within the IR, e.g. "infra/shared/http" or "team-a/ls/extra". */
  id: string;
  port: number;
  protocol: ListenerProtocol;
  /** Listener hostname (exact or "*.suffix"); absent matches every host. */
  hostname?: string;
  tls?: IRListenerTLS;
  /** HTTP / HTTPS listeners: virtual hosts, most specific first (exact, longer wildcard, "*"). */
  virtualHosts: IRVirtualHost[];
  /** TLS / TCP / UDP listeners: the attached routes, in precedence order. */
  l4Routes: IRL4Route[];
}

export interface IRCertificate {
  /** PEM chain and key, as found in the kubernetes.io/tls Secret. */
  certPem: string;
  keyPem: string;
  source: Source;
}

export interface IRListenerTLS {
  mode: 'Terminate' | 'Passthrough' | 'Mixed';
  /** Terminate: the certificates to offer, in spec order (the first matching SNI wins). */
  certificates: IRCertificate[];
  /** Client certificate validation (Gateway spec.tls.frontend) for this listener's port. */
  clientValidation?: {
    /** Concatenated PEM CA bundle. */
    caPem: string;
    mode: 'AllowValidOnly' | 'AllowInsecureFallback';
  };
  /** listeners[].tls.options, passed through. */
  options?: Record<string, string>;
}

export interface IRVirtualHost {
  /** Exact hostname, "*.suffix" wildcard, or "*" for any host. */
  hostname: string;
  /** All HTTP and gRPC matches of the routes on this host, in precedence order: the first that matches wins. */
  routes: IRHTTPRoute[];
}

export type IRPathMatch =
  | { type: 'Exact'; value: string }
  | { type: 'PathPrefix'; value: string }
  | { type: 'RegularExpression'; value: string };

export interface IRValueMatch {
  /** Header names are lower-cased; query parameter names are kept as written (case-sensitive). */
  name: string;
  type: 'Exact' | 'RegularExpression';
  value: string;
}

export interface IRMatch {
  path: IRPathMatch;
  method?: string;
  headers: IRValueMatch[];
  queryParams: IRValueMatch[];
}

export interface IRHTTPRoute {
  /** kind HTTPRoute or GRPCRoute, with rule / ruleName / match. */
  source: Source;
  /** 'grpc' routes answer gateway-side errors as gRPC status in trailers. gRPC service/method matches are expressed as path matches. */
  kind: 'http' | 'grpc';
  match: IRMatch;
  /** Rule filters, in spec order. */
  filters: IRFilter[];
  /** Weighted backends. Empty means: answer `directResponse` (or 500 when that is absent). */
  backends: IRWeightedBackend[];
  /** Set when the rule cannot forward at all: e.g. { status: 500 } for a rule without valid backends. */
  directResponse?: { status: number; body?: string };
  timeouts?: { requestMs?: number; backendRequestMs?: number };
  retry?: { codes: number[]; attempts: number; backoffMs?: number };
  sessionPersistence?: IRSessionPersistence;
}

export interface IRWeightedBackend {
  /** Key into IR.backends; absent when the ref is invalid (then `invalidStatus` is answered for its share). */
  backendId?: string;
  weight: number;
  /** For an invalid backendRef: the status to answer (500) for its share of traffic. */
  invalidStatus?: number;
  /** backendRefs[].filters */
  filters: IRFilter[];
  source?: Source;
}

export interface IRSessionPersistence {
  type: 'Cookie' | 'Header';
  name: string;
  absoluteTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Cookie lifetime: 'Permanent' sets Max-Age, 'Session' does not. */
  lifetimeType?: 'Permanent' | 'Session';
}

export interface IRHeaderModifier {
  /** Header names as written; the data plane lower-cases them once at compile time. */
  set: { name: string; value: string }[];
  add: { name: string; value: string }[];
  remove: string[];
}

export type IRFilter =
  | ({ type: 'RequestHeaderModifier' } & IRHeaderModifier)
  | ({ type: 'ResponseHeaderModifier' } & IRHeaderModifier)
  | {
      type: 'RequestRedirect';
      scheme?: 'http' | 'https';
      hostname?: string;
      /** Absent: derived per the spec from the scheme / listener port. */
      port?: number;
      path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string };
      statusCode: number;
    }
  | {
      type: 'URLRewrite';
      hostname?: string;
      path?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string };
    }
  | {
      type: 'RequestMirror';
      /** Absent when the mirror's backendRef is invalid: the mirror is skipped. */
      backendId?: string;
      /** 0..100, fractions allowed (from `percent` or `fraction`). */
      percent: number;
    }
  | {
      type: 'CORS';
      allowOrigins: string[];
      allowCredentials: boolean;
      allowMethods: string[];
      allowHeaders: string[];
      exposeHeaders: string[];
      maxAge: number;
    }
  | {
      type: 'ExternalAuth';
      protocol: 'HTTP' | 'GRPC';
      backendId?: string;
      /** HTTP: path prefix to call on the auth service. */
      path?: string;
      allowedRequestHeaders?: string[];
      allowedResponseHeaders?: string[];
      forwardBody?: { maxSize: number };
    }
  /** ExtensionRef the gateway cannot resolve, and similar: answer this status. */
  | { type: 'DirectResponse'; status: number };

export interface IRL4Route {
  /** kind TLSRoute / TCPRoute / UDPRoute, with rule index. */
  source: Source;
  /** TLSRoute: effective SNI hostnames (intersection with the listener), most specific first. Empty: any. */
  hostnames: string[];
  backends: IRWeightedBackend[];
}

export type BackendProtocol = 'http1' | 'h2c' | 'h2' | 'ws' | 'tcp' | 'udp';

export interface IRBackend {
  /** Stable id, e.g. "team-a/web:8080". */
  id: string;
  /** The Service (or other backend kind) it came from. */
  source: Source;
  /** From the Service port's appProtocol: kubernetes.io/h2c → 'h2c', kubernetes.io/ws → 'ws'; else 'http1'. */
  protocol: BackendProtocol;
  /** Ready endpoints (EndpointSlice conditions.ready != false), resolved to the target port. */
  endpoints: { address: string; port: number }[];
  /** ExternalName services: resolved by DNS at connect time. */
  externalName?: string;
  /** TLS origination from a BackendTLSPolicy. */
  tls?: IRBackendTLS;
  /**
   * XBackendTrafficPolicy retryConstraint: retries to this backend must stay within `percent` of
   * the requests of the last `intervalMs` (always allowing `minRetryRate`); a retry beyond the
   * budget is not made and the client gets 503.
   */
  retryBudget?: IRRetryBudget;
  /** XBackendTrafficPolicy sessionPersistence; a route rule's own sessionPersistence takes precedence. */
  sessionPersistence?: IRSessionPersistence;
  /** The XBackendTrafficPolicy that set retryBudget / sessionPersistence. */
  trafficPolicy?: Source;
}

export interface IRRetryBudget {
  percent: number;
  intervalMs: number;
  minRetryRate: { count: number; intervalMs: number };
}

export interface IRBackendTLS {
  /** SNI and the name to verify against (BackendTLSPolicy validation.hostname). */
  sni: string;
  /** Concatenated PEM CA bundle from caCertificateRefs; absent with wellKnown. */
  caPem?: string;
  wellKnown?: 'System';
  /** validation.subjectAltNames; when present they replace the hostname check. */
  subjectAltNames?: ({ type: 'Hostname'; hostname: string } | { type: 'URI'; uri: string })[];
  /** Set when the policy's CA could not be resolved: every request must fail with a 5xx. */
  invalid?: boolean;
  source: Source;
}
