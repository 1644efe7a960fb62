// Types shared by the Gateway API kinds (apis/v1/shared_types.go, object_reference_types.go,
// policy_types.go). Every field is optional where the upstream JSON may omit it: objects come
// from untrusted manifests, and translate() reads them defensively.
import type { Condition } from './meta.ts';

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_X_GROUP = 'gateway.networking.x-k8s.io';
/** The core API group is the empty string. */
export const CORE_GROUP = '';

export type Hostname = string;
/** GEP-2257 duration, e.g. "1h30m", "500ms". */
export type Duration = string;

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

/** ListenerSet spec.parentRef. */
export interface ParentGatewayReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

export type GatewayDefaultScope = 'All' | 'None';

export interface CommonRouteSpec {
  parentRefs?: ParentReference[];
  /** Experimental (GEP-3793). */
  useDefaultGateways?: GatewayDefaultScope;
}

export interface LocalObjectReference {
  group: string;
  kind: string;
  name: string;
}

export interface SecretObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

export interface BackendObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
}

export interface ObjectReference {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface BackendRef extends BackendObjectReference {
  /** Default 1, 0..1,000,000. */
  weight?: number;
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface RouteStatus {
  parents: RouteParentStatus[];
}

export interface CookieConfig {
  lifetimeType?: 'Permanent' | 'Session';
}

/** Experimental (GEP-1619), v1.6 shape. */
export interface SessionPersistence {
  sessionName?: string;
  absoluteTimeout?: Duration;
  /** Removed from the v1.6 CRD but still read when present (older manifests). */
  idleTimeout?: Duration;
  type?: 'Cookie' | 'Header';
  cookieConfig?: CookieConfig;
}

export interface Fraction {
  numerator: number;
  /** Default 100. */
  denominator?: number;
}

export interface LocalPolicyTargetReference {
  group: string;
  kind: string;
  name: string;
}

export interface NamespacedPolicyTargetReference extends LocalPolicyTargetReference {
  namespace?: string;
}

export interface LocalPolicyTargetReferenceWithSectionName extends LocalPolicyTargetReference {
  sectionName?: string;
}

export interface PolicyAncestorStatus {
  ancestorRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface PolicyStatus {
  ancestors: PolicyAncestorStatus[];
}

/** Address types (shared_types.go). */
export const ADDRESS_TYPE_IP = 'IPAddress';
export const ADDRESS_TYPE_HOSTNAME = 'Hostname';
/** Deprecated. */
export const ADDRESS_TYPE_NAMED = 'NamedAddress';

/** Well-known labels (well_known_labels.go). */
export const LABEL_GATEWAY_NAME = 'gateway.networking.k8s.io/gateway-name';
export const LABEL_GATEWAY_CLASS_NAME = 'gateway.networking.k8s.io/gateway-class-name';
export const LABEL_POLICY = 'gateway.networking.k8s.io/policy';
export const GATEWAY_CLASS_FINALIZER = 'gateway-exists-finalizer.gateway.networking.k8s.io';
