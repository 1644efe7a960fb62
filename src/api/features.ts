// SupportedFeature names of Gateway API v1.6 (pkg/features/*.go), and the set Portico claims in
// GatewayClass status.supportedFeatures (which the conformance suite reads to pick its tests).

export const FEATURES = {
  // Gateway
  Gateway: 'Gateway',
  GatewayPort8080: 'GatewayPort8080',
  GatewayStaticAddresses: 'GatewayStaticAddresses',
  GatewayHTTPListenerIsolation: 'GatewayHTTPListenerIsolation',
  GatewayHTTPSListenerDetectMisdirectedRequests: 'GatewayHTTPSListenerDetectMisdirectedRequests',
  GatewayInfrastructure: 'GatewayInfrastructure',
  GatewayAddressEmpty: 'GatewayAddressEmpty',
  GatewayBackendClientCertificate: 'GatewayBackendClientCertificate',
  GatewayFrontendClientCertificateValidation: 'GatewayFrontendClientCertificateValidation',
  GatewayFrontendClientCertificateValidationInsecureFallback: 'GatewayFrontendClientCertificateValidationInsecureFallback',
  ListenerSet: 'ListenerSet',
  // ReferenceGrant
  ReferenceGrant: 'ReferenceGrant',
  // HTTPRoute
  HTTPRoute: 'HTTPRoute',
  HTTPRouteDestinationPortMatching: 'HTTPRouteDestinationPortMatching',
  HTTPRouteBackendRequestHeaderModification: 'HTTPRouteBackendRequestHeaderModification',
  HTTPRouteQueryParamMatching: 'HTTPRouteQueryParamMatching',
  HTTPRouteMethodMatching: 'HTTPRouteMethodMatching',
  HTTPRouteResponseHeaderModification: 'HTTPRouteResponseHeaderModification',
  HTTPRoutePortRedirect: 'HTTPRoutePortRedirect',
  HTTPRouteSchemeRedirect: 'HTTPRouteSchemeRedirect',
  HTTPRoutePathRedirect: 'HTTPRoutePathRedirect',
  HTTPRouteHostRewrite: 'HTTPRouteHostRewrite',
  HTTPRoutePathRewrite: 'HTTPRoutePathRewrite',
  HTTPRouteRequestMirror: 'HTTPRouteRequestMirror',
  HTTPRouteRequestMultipleMirrors: 'HTTPRouteRequestMultipleMirrors',
  HTTPRouteRequestPercentageMirror: 'HTTPRouteRequestPercentageMirror',
  HTTPRouteRequestTimeout: 'HTTPRouteRequestTimeout',
  HTTPRouteBackendTimeout: 'HTTPRouteBackendTimeout',
  HTTPRouteParentRefPort: 'HTTPRouteParentRefPort',
  HTTPRouteBackendProtocolH2C: 'HTTPRouteBackendProtocolH2C',
  HTTPRouteBackendProtocolWebSocket: 'HTTPRouteBackendProtocolWebSocket',
  HTTPRouteNamedRouteRule: 'HTTPRouteNamedRouteRule',
  HTTPRouteCORS: 'HTTPRouteCORS',
  HTTPRoute303RedirectStatusCode: 'HTTPRoute303RedirectStatusCode',
  HTTPRoute307RedirectStatusCode: 'HTTPRoute307RedirectStatusCode',
  HTTPRoute308RedirectStatusCode: 'HTTPRoute308RedirectStatusCode',
  HTTPRouteRetry: 'HTTPRouteRetry',
  HTTPRouteRetryBackendTimeout: 'HTTPRouteRetryBackendTimeout',
  HTTPRouteRetryConnectionError: 'HTTPRouteRetryConnectionError',
  // GRPCRoute
  GRPCRoute: 'GRPCRoute',
  GRPCRouteNamedRouteRule: 'GRPCRouteNamedRouteRule',
  // TLSRoute
  TLSRoute: 'TLSRoute',
  TLSRouteModeTerminate: 'TLSRouteModeTerminate',
  TLSRouteModeMixed: 'TLSRouteModeMixed',
  // TCPRoute, UDPRoute
  TCPRoute: 'TCPRoute',
  UDPRoute: 'UDPRoute',
  // Mesh
  Mesh: 'Mesh',
  MeshClusterIPMatching: 'MeshClusterIPMatching',
  MeshConsumerRoute: 'MeshConsumerRoute',
  MeshHTTPRouteRewritePath: 'MeshHTTPRouteRewritePath',
  MeshHTTPRouteSchemeRedirect: 'MeshHTTPRouteSchemeRedirect',
  MeshHTTPRouteRedirectPort: 'MeshHTTPRouteRedirectPort',
  MeshHTTPRouteRedirectPath: 'MeshHTTPRouteRedirectPath',
  MeshHTTPRouteBackendRequestHeaderModification: 'MeshHTTPRouteBackendRequestHeaderModification',
  MeshHTTPRouteQueryParamMatching: 'MeshHTTPRouteQueryParamMatching',
  MeshHTTPRouteNamedRouteRule: 'MeshHTTPRouteNamedRouteRule',
  // BackendTLSPolicy
  BackendTLSPolicy: 'BackendTLSPolicy',
  BackendTLSPolicySANValidation: 'BackendTLSPolicySANValidation',
} as const;

export type FeatureName = (typeof FEATURES)[keyof typeof FEATURES];

/** Every feature name of v1.6, sorted. */
export const ALL_FEATURES: readonly FeatureName[] = Object.values(FEATURES).sort();

/** Features in the experimental channel (pkg/features: Channel experimental). */
export const EXPERIMENTAL_FEATURES: ReadonlySet<FeatureName> = new Set<FeatureName>([
  FEATURES.HTTPRouteDestinationPortMatching,
  FEATURES.HTTPRouteRetry,
  FEATURES.HTTPRouteRetryBackendTimeout,
  FEATURES.HTTPRouteRetryConnectionError,
  FEATURES.TLSRouteModeMixed,
]);

/**
 * What Portico claims: what translate() implements and the HTTP data plane carries. The
 * integrator adjusts this list as data-plane parts land. Not claimed: Mesh (Portico is not a
 * mesh).
 * GatewayInfrastructure: in Kubernetes mode the leader generates a Service per accepted Gateway
 * carrying its spec.infrastructure labels and annotations (providers/kubernetes/infrastructure.ts);
 * parametersRef problems are Accepted=False/InvalidParameters (translate/gateway.ts).
 * HTTPRouteDestinationPortMatching is GEP-957's parentRef.port on a Gateway: a ref whose port no
 * listener has is Accepted=False NoMatchingParent (translate/attach.ts; docs/design.md says why it
 * applies to a Gateway, not only to a mesh).
 * HTTPRouteRetryConnectionError / HTTPRouteRetryBackendTimeout: with a retry stanza, an attempt
 * whose connection fails (refused, reset or closed before a response) or that outlives
 * timeouts.backendRequest is retried whatever `codes` says; timeouts.request bounds all attempts
 * (dataplane/handler.ts onResponseError; docs/dataplane.md "Retries").
 * GatewayHTTPSListenerDetectMisdirectedRequests: the HTTP data plane answers 421 when the Host
 * selects another listener than the TLS SNI did (src/dataplane/handler.ts route()).
 */
export const PORTICO_SUPPORTED_FEATURES: readonly FeatureName[] = ([
  FEATURES.Gateway,
  FEATURES.GatewayPort8080,
  FEATURES.GatewayStaticAddresses,
  FEATURES.GatewayHTTPListenerIsolation,
  FEATURES.GatewayHTTPSListenerDetectMisdirectedRequests,
  FEATURES.GatewayInfrastructure,
  FEATURES.GatewayAddressEmpty,
  FEATURES.GatewayBackendClientCertificate,
  FEATURES.GatewayFrontendClientCertificateValidation,
  FEATURES.GatewayFrontendClientCertificateValidationInsecureFallback,
  FEATURES.ListenerSet,
  FEATURES.ReferenceGrant,
  FEATURES.HTTPRoute,
  FEATURES.HTTPRouteBackendRequestHeaderModification,
  FEATURES.HTTPRouteQueryParamMatching,
  FEATURES.HTTPRouteMethodMatching,
  FEATURES.HTTPRouteResponseHeaderModification,
  FEATURES.HTTPRoutePortRedirect,
  FEATURES.HTTPRouteSchemeRedirect,
  FEATURES.HTTPRoutePathRedirect,
  FEATURES.HTTPRouteHostRewrite,
  FEATURES.HTTPRoutePathRewrite,
  FEATURES.HTTPRouteRequestMirror,
  FEATURES.HTTPRouteRequestMultipleMirrors,
  FEATURES.HTTPRouteRequestPercentageMirror,
  FEATURES.HTTPRouteRequestTimeout,
  FEATURES.HTTPRouteBackendTimeout,
  FEATURES.HTTPRouteParentRefPort,
  FEATURES.HTTPRouteBackendProtocolH2C,
  FEATURES.HTTPRouteBackendProtocolWebSocket,
  FEATURES.HTTPRouteNamedRouteRule,
  FEATURES.HTTPRouteCORS,
  FEATURES.HTTPRoute303RedirectStatusCode,
  FEATURES.HTTPRoute307RedirectStatusCode,
  FEATURES.HTTPRoute308RedirectStatusCode,
  FEATURES.HTTPRouteRetry,
  FEATURES.HTTPRouteRetryBackendTimeout,
  FEATURES.HTTPRouteRetryConnectionError,
  FEATURES.HTTPRouteDestinationPortMatching,
  FEATURES.GRPCRoute,
  FEATURES.GRPCRouteNamedRouteRule,
  FEATURES.TLSRoute,
  FEATURES.TLSRouteModeTerminate,
  // Mixed: TLS Passthrough and terminating listeners share a port, chosen by SNI per connection
  // (translate/conflicts.ts accepts the pair; dataplane/l4/tls.ts serves it).
  FEATURES.TLSRouteModeMixed,
  FEATURES.TCPRoute,
  FEATURES.UDPRoute,
  FEATURES.BackendTLSPolicy,
  FEATURES.BackendTLSPolicySANValidation,
] as FeatureName[]).sort();
