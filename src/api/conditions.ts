// Every condition type and reason of Gateway API v1.6, exactly as the upstream constants spell
// them (apis/v1/*_types.go). Deprecated values are kept so that status written by older
// controllers can be recognised; Portico never emits them.

export const GatewayClassConditionType = {
  Accepted: 'Accepted',
  SupportedVersion: 'SupportedVersion',
} as const;

export const GatewayClassReason = {
  Accepted: 'Accepted',
  InvalidParameters: 'InvalidParameters',
  Pending: 'Pending',
  Unsupported: 'Unsupported',
  /** Deprecated. */
  Waiting: 'Waiting',
  SupportedVersion: 'SupportedVersion',
  UnsupportedVersion: 'UnsupportedVersion',
} as const;

export const GatewayConditionType = {
  Programmed: 'Programmed',
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  InsecureFrontendValidationMode: 'InsecureFrontendValidationMode',
  /** Deprecated. */
  Scheduled: 'Scheduled',
  /** Reserved; must not be used. */
  Ready: 'Ready',
} as const;

export const GatewayReason = {
  Programmed: 'Programmed',
  Invalid: 'Invalid',
  NoResources: 'NoResources',
  AddressNotAssigned: 'AddressNotAssigned',
  AddressNotUsable: 'AddressNotUsable',
  ConfigurationChanged: 'ConfigurationChanged',
  Accepted: 'Accepted',
  ListenersNotValid: 'ListenersNotValid',
  Pending: 'Pending',
  UnsupportedAddress: 'UnsupportedAddress',
  InvalidParameters: 'InvalidParameters',
  ResolvedRefs: 'ResolvedRefs',
  InvalidClientCertificateRef: 'InvalidClientCertificateRef',
  RefNotPermitted: 'RefNotPermitted',
  ListenersNotResolved: 'ListenersNotResolved',
  /** Deprecated. */
  Scheduled: 'Scheduled',
  /** Deprecated. */
  NotReconciled: 'NotReconciled',
  /** Reserved. */
  Ready: 'Ready',
  /** Reserved. */
  ListenersNotReady: 'ListenersNotReady',
} as const;

export const ListenerConditionType = {
  Conflicted: 'Conflicted',
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Programmed: 'Programmed',
  OverlappingTLSConfig: 'OverlappingTLSConfig',
  /** Deprecated. */
  Detached: 'Detached',
  /** Reserved. */
  Ready: 'Ready',
} as const;

export const ListenerReason = {
  HostnameConflict: 'HostnameConflict',
  ProtocolConflict: 'ProtocolConflict',
  NoConflicts: 'NoConflicts',
  Accepted: 'Accepted',
  PortUnavailable: 'PortUnavailable',
  UnsupportedProtocol: 'UnsupportedProtocol',
  NoValidCACertificate: 'NoValidCACertificate',
  UnsupportedValue: 'UnsupportedValue',
  ResolvedRefs: 'ResolvedRefs',
  InvalidCertificateRef: 'InvalidCertificateRef',
  InvalidRouteKinds: 'InvalidRouteKinds',
  RefNotPermitted: 'RefNotPermitted',
  InvalidCACertificateRef: 'InvalidCACertificateRef',
  InvalidCACertificateKind: 'InvalidCACertificateKind',
  Programmed: 'Programmed',
  Invalid: 'Invalid',
  Pending: 'Pending',
  OverlappingHostnames: 'OverlappingHostnames',
  OverlappingCertificates: 'OverlappingCertificates',
  /** Implementer's guide: listener Programmed=False for insufficient TLS configuration. */
  InvalidTLSConfig: 'InvalidTLSConfig',
  /** Deprecated. */
  Attached: 'Attached',
  /** Reserved. */
  Ready: 'Ready',
} as const;

export const ListenerSetConditionType = {
  Programmed: 'Programmed',
  Accepted: 'Accepted',
} as const;

export const ListenerSetReason = {
  Programmed: 'Programmed',
  Accepted: 'Accepted',
  NotAllowed: 'NotAllowed',
  ParentNotAccepted: 'ParentNotAccepted',
  ListenersNotValid: 'ListenersNotValid',
  Invalid: 'Invalid',
  Pending: 'Pending',
  /** Named in the Programmed doc comment; no upstream constant. */
  ParentNotProgrammed: 'ParentNotProgrammed',
  /** Named in the Programmed doc comment. */
  PortUnavailable: 'PortUnavailable',
} as const;

export const ListenerEntryConditionType = {
  Conflicted: 'Conflicted',
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  Programmed: 'Programmed',
  /** Reserved. */
  Ready: 'Ready',
} as const;

export const ListenerEntryReason = {
  HostnameConflict: 'HostnameConflict',
  ProtocolConflict: 'ProtocolConflict',
  ListenerConflict: 'ListenerConflict',
  /** Listener reason reused for entries. */
  NoConflicts: 'NoConflicts',
  Accepted: 'Accepted',
  UnsupportedProtocol: 'UnsupportedProtocol',
  TooManyListeners: 'TooManyListeners',
  ResolvedRefs: 'ResolvedRefs',
  InvalidCertificateRef: 'InvalidCertificateRef',
  InvalidRouteKinds: 'InvalidRouteKinds',
  RefNotPermitted: 'RefNotPermitted',
  Programmed: 'Programmed',
  PortUnavailable: 'PortUnavailable',
  Pending: 'Pending',
  Invalid: 'Invalid',
  /** Reserved. */
  Ready: 'Ready',
} as const;

export const RouteConditionType = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
  PartiallyInvalid: 'PartiallyInvalid',
} as const;

export const RouteReason = {
  Accepted: 'Accepted',
  NotAllowedByListeners: 'NotAllowedByListeners',
  NoMatchingListenerHostname: 'NoMatchingListenerHostname',
  NoMatchingParent: 'NoMatchingParent',
  UnsupportedValue: 'UnsupportedValue',
  Pending: 'Pending',
  IncompatibleFilters: 'IncompatibleFilters',
  ResolvedRefs: 'ResolvedRefs',
  RefNotPermitted: 'RefNotPermitted',
  InvalidKind: 'InvalidKind',
  BackendNotFound: 'BackendNotFound',
  UnsupportedProtocol: 'UnsupportedProtocol',
  /**
   * Portico-specific (the spec defines no reason for it): an HTTPRoute and a GRPCRoute share a
   * hostname on a listener, and this route lost the spec's cross-serving rule (the older route,
   * then the first by namespace/name, wins) on every listener of the parentRef.
   */
  HostnameConflict: 'HostnameConflict',
} as const;

/** PartiallyInvalid messages start with one of these (shared_types.go). */
export const PARTIALLY_INVALID_DROPPED_RULE = 'Dropped Rule';
export const PARTIALLY_INVALID_FALL_BACK = 'Fall Back';

export const PolicyConditionType = {
  Accepted: 'Accepted',
  ResolvedRefs: 'ResolvedRefs',
} as const;

export const PolicyReason = {
  Accepted: 'Accepted',
  Conflicted: 'Conflicted',
  Invalid: 'Invalid',
  TargetNotFound: 'TargetNotFound',
  /** BackendTLSPolicy. */
  NoValidCACertificate: 'NoValidCACertificate',
  ResolvedRefs: 'ResolvedRefs',
  InvalidCACertificateRef: 'InvalidCACertificateRef',
  InvalidKind: 'InvalidKind',
} as const;
