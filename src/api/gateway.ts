// GatewayClass, Gateway and ListenerSet (apis/v1/gatewayclass_types.go, gateway_types.go,
// listenerset_types.go). All served versions (v1, v1beta1) share these shapes.
import type { Condition, KubeObject } from './meta.ts';
import type {
  GatewayDefaultScope, Hostname, LabelSelector, ObjectReference, ParentGatewayReference,
  SecretObjectReference,
} from './common.ts';

export interface ParametersReference {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface GatewayClassSpec {
  controllerName: string;
  parametersRef?: ParametersReference;
  description?: string;
}

export interface SupportedFeature {
  name: string;
}

export interface GatewayClassStatus {
  conditions?: Condition[];
  supportedFeatures?: SupportedFeature[];
}

export interface GatewayClass extends KubeObject {
  kind: 'GatewayClass';
  spec: GatewayClassSpec;
  status?: GatewayClassStatus;
}

export type ProtocolType = 'HTTP' | 'HTTPS' | 'TLS' | 'TCP' | 'UDP' | (string & {});
export type TLSModeType = 'Terminate' | 'Passthrough';
export type FromNamespaces = 'All' | 'Same' | 'Selector' | 'None';

export interface RouteNamespaces {
  from?: FromNamespaces;
  selector?: LabelSelector;
}

export interface RouteGroupKind {
  group?: string;
  kind: string;
}

export interface AllowedRoutes {
  namespaces?: RouteNamespaces;
  kinds?: RouteGroupKind[];
}

export interface ListenerTLSConfig {
  mode?: TLSModeType;
  certificateRefs?: SecretObjectReference[];
  options?: Record<string, string>;
}

export interface Listener {
  name: string;
  hostname?: Hostname;
  port: number;
  protocol: ProtocolType;
  tls?: ListenerTLSConfig;
  allowedRoutes?: AllowedRoutes;
}

export interface GatewaySpecAddress {
  /** Default IPAddress. */
  type?: string;
  value?: string;
}

export interface GatewayStatusAddress {
  type?: string;
  value: string;
}

export interface LocalParametersReference {
  group: string;
  kind: string;
  name: string;
}

export interface GatewayInfrastructure {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  parametersRef?: LocalParametersReference;
}

export interface ListenerNamespaces {
  /** Default None. */
  from?: FromNamespaces;
  selector?: LabelSelector;
}

export interface AllowedListeners {
  namespaces?: ListenerNamespaces;
}

export type FrontendValidationModeType = 'AllowValidOnly' | 'AllowInsecureFallback';

export interface FrontendTLSValidation {
  caCertificateRefs: ObjectReference[];
  mode?: FrontendValidationModeType;
}

export interface TLSConfig {
  validation?: FrontendTLSValidation;
}

export interface TLSPortConfig {
  port: number;
  tls: TLSConfig;
}

export interface FrontendTLSConfig {
  default: TLSConfig;
  perPort?: TLSPortConfig[];
}

export interface GatewayBackendTLS {
  clientCertificateRef?: SecretObjectReference;
}

export interface GatewayTLSConfig {
  backend?: GatewayBackendTLS;
  frontend?: FrontendTLSConfig;
}

export interface GatewaySpec {
  gatewayClassName: string;
  listeners: Listener[];
  addresses?: GatewaySpecAddress[];
  infrastructure?: GatewayInfrastructure;
  allowedListeners?: AllowedListeners;
  tls?: GatewayTLSConfig;
  /** Experimental. */
  defaultScope?: GatewayDefaultScope;
}

export interface ListenerStatus {
  name: string;
  supportedKinds: RouteGroupKind[];
  attachedRoutes: number;
  conditions: Condition[];
}

export interface GatewayStatus {
  addresses?: GatewayStatusAddress[];
  conditions?: Condition[];
  listeners?: ListenerStatus[];
  attachedListenerSets?: number;
}

export interface Gateway extends KubeObject {
  kind: 'Gateway';
  spec: GatewaySpec;
  status?: GatewayStatus;
}

export interface ListenerEntry {
  name: string;
  hostname?: Hostname;
  port: number;
  protocol: ProtocolType;
  tls?: ListenerTLSConfig;
  allowedRoutes?: AllowedRoutes;
}

export interface ListenerSetSpec {
  parentRef: ParentGatewayReference;
  listeners: ListenerEntry[];
}

export interface ListenerEntryStatus {
  name: string;
  supportedKinds?: RouteGroupKind[];
  attachedRoutes: number;
  conditions?: Condition[];
}

export interface ListenerSetStatus {
  conditions?: Condition[];
  listeners?: ListenerEntryStatus[];
}

export interface ListenerSet extends KubeObject {
  kind: 'ListenerSet';
  spec: ListenerSetSpec;
  status?: ListenerSetStatus;
}

export const PROTOCOLS = ['HTTP', 'HTTPS', 'TLS', 'TCP', 'UDP'] as const;
