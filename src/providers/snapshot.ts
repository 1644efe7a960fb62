// The Snapshot: an immutable view of every object Portico reads, produced by a provider
// (files or kubernetes) and consumed by translate(). Both providers build the same type,
// so every later stage is identical in both modes.
import type { KubeObject } from '../api/meta.ts';

/** The kinds a snapshot holds, by their Kubernetes kind name. */
export const SNAPSHOT_KINDS = [
  'GatewayClass', 'Gateway', 'ListenerSet',
  'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute',
  'ReferenceGrant', 'BackendTLSPolicy', 'XBackendTrafficPolicy',
  'Namespace', 'Service', 'EndpointSlice', 'Secret', 'ConfigMap',
] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

/** Key of an object inside its kind: "namespace/name", or "name" for cluster-scoped kinds. */
export type ObjectKey = string;

export interface Snapshot {
  /** Increases by one each time the provider publishes a changed view. */
  readonly generation: number;
  /** Objects by kind, then by key. Iteration order is not meaningful; translate() sorts. */
  readonly objects: ReadonlyMap<SnapshotKind, ReadonlyMap<ObjectKey, KubeObject>>;
  /** Problems the provider found (unparseable files, objects it could not read). */
  readonly diagnostics: readonly ProviderDiagnostic[];
}

export interface ProviderDiagnostic {
  /** e.g. "examples/routes.yaml:12" or "kubernetes watch httproutes" */
  where: string;
  message: string;
}

export const CLUSTER_SCOPED: ReadonlySet<SnapshotKind> = new Set(['GatewayClass', 'Namespace']);

export function objectKey(kind: SnapshotKind, namespace: string | undefined, name: string): ObjectKey {
  return CLUSTER_SCOPED.has(kind) ? name : `${namespace ?? 'default'}/${name}`;
}
