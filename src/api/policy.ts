// ReferenceGrant, BackendTLSPolicy (apis/v1) and XBackendTrafficPolicy (apisx/v1alpha1).
import type { KubeObject } from './meta.ts';
import type {
  Duration, LocalObjectReference, LocalPolicyTargetReference,
  LocalPolicyTargetReferenceWithSectionName, PolicyStatus, SessionPersistence,
} from './common.ts';

export interface ReferenceGrantFrom {
  group: string;
  kind: string;
  namespace: string;
}

export interface ReferenceGrantTo {
  group: string;
  kind: string;
  /** Absent: every object of that kind in the grant's namespace. */
  name?: string;
}

export interface ReferenceGrantSpec {
  from: ReferenceGrantFrom[];
  to: ReferenceGrantTo[];
}

export interface ReferenceGrant extends KubeObject {
  kind: 'ReferenceGrant';
  spec: ReferenceGrantSpec;
}

export interface SubjectAltName {
  type: 'Hostname' | 'URI';
  hostname?: string;
  uri?: string;
}

export interface BackendTLSPolicyValidation {
  caCertificateRefs?: LocalObjectReference[];
  /** "System" or a domain-prefixed value. */
  wellKnownCACertificates?: string;
  hostname: string;
  subjectAltNames?: SubjectAltName[];
}

export interface BackendTLSPolicySpec {
  targetRefs: LocalPolicyTargetReferenceWithSectionName[];
  validation: BackendTLSPolicyValidation;
  options?: Record<string, string>;
}

export interface BackendTLSPolicy extends KubeObject {
  kind: 'BackendTLSPolicy';
  spec: BackendTLSPolicySpec;
  status?: PolicyStatus;
}

export interface BudgetDetails {
  /** Default 20. */
  percent?: number;
  /** Default 10s. */
  interval?: Duration;
}

export interface RequestRate {
  count?: number;
  interval?: Duration;
}

export interface RetryConstraint {
  budget?: BudgetDetails;
  minRetryRate?: RequestRate;
}

export interface BackendTrafficPolicySpec {
  targetRefs: LocalPolicyTargetReference[];
  retryConstraint?: RetryConstraint;
  sessionPersistence?: SessionPersistence;
}

export interface XBackendTrafficPolicy extends KubeObject {
  kind: 'XBackendTrafficPolicy';
  spec: BackendTrafficPolicySpec;
  status?: PolicyStatus;
}
