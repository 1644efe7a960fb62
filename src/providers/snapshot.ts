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
  /**
   * Objects the provider refused as the API server would (schema and CEL rules of the CRDs),
   * so they are not in `objects`. File mode only: in Kubernetes mode the API server refuses
   * them before Portico sees them. Absent or empty when nothing was refused.
   */
  readonly rejected?: readonly RejectedObject[];
  /**
   * The Gateway API CRDs the provider saw (CustomResourceDefinitions of group
   * gateway.networking.k8s.io), by CRD name, with their `gateway.networking.k8s.io/bundle-version`
   * annotation ("" when it is missing). Kubernetes mode reads them from the API server, file mode
   * from CRD objects among the manifests. Absent when none were seen (plain manifests, or no
   * permission to read CRDs): Portico then assumes the bundle it implements (v1.6).
   */
  readonly crdBundleVersions?: Readonly<Record<string, string>>;
  /**
   * What differs from the snapshot of generation `since`: by kind, the keys whose object was
   * added, replaced or removed (kinds not listed have the very same map). Optional: a provider
   * that patches its previous snapshot says so (the file provider), so that consumers can skip
   * comparing every object; a consumer must check `since`.
   */
  readonly changes?: { since: number; keys: ReadonlyMap<SnapshotKind, ReadonlySet<ObjectKey>> };
}

/** The annotation every Gateway API CRD carries with the release bundle it comes from. */
export const BUNDLE_VERSION_ANNOTATION = 'gateway.networking.k8s.io/bundle-version';
const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/**
 * crdBundleVersions of a set of objects: the Gateway API CustomResourceDefinitions among them.
 * Undefined when there is none. Objects of any other kind are ignored.
 */
export function crdBundleVersions(objects: Iterable<KubeObject>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const o of objects) {
    if (o?.kind !== 'CustomResourceDefinition' || typeof o.metadata?.name !== 'string') continue;
    if ((o.spec as { group?: unknown } | undefined)?.group !== GATEWAY_API_GROUP) continue;
    const version = o.metadata.annotations?.[BUNDLE_VERSION_ANNOTATION];
    out ??= {};
    out[o.metadata.name] = typeof version === 'string' ? version : '';
  }
  return out;
}

/** An object refused by validation, with what is wrong with it. */
export interface RejectedObject {
  /** The refused object (metadata filled in as for admitted objects). */
  object: KubeObject;
  /** Field path (e.g. `spec.rules[0].matches[0].path.value`) and what is wrong there. */
  errors: { path: string; message: string }[];
  /**
   * When an earlier valid version of the same object is in `objects` (and keeps serving, as the
   * API server keeps the stored object when an update is refused): its metadata.generation.
   */
  servingGeneration?: number;
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

const SNAPSHOT_KIND_SET: ReadonlySet<string> = new Set(SNAPSHOT_KINDS);

export function isSnapshotKind(kind: string): kind is SnapshotKind {
  return SNAPSHOT_KIND_SET.has(kind);
}

/**
 * Builds a Snapshot from plain objects, as both providers do: objects of kinds Portico does not
 * read are skipped; namespaced objects without a namespace go to "default". Objects are not
 * copied; callers hand over objects they will not mutate afterwards. A later object with the same
 * kind and key replaces an earlier one.
 */
export function buildSnapshot(
  objects: Iterable<KubeObject>,
  generation: number,
  diagnostics: readonly ProviderDiagnostic[] = [],
): Snapshot {
  const byKind = new Map<SnapshotKind, Map<ObjectKey, KubeObject>>();
  for (const kind of SNAPSHOT_KINDS) byKind.set(kind, new Map());
  for (const obj of objects) {
    if (!obj || typeof obj.kind !== 'string' || !isSnapshotKind(obj.kind)) continue;
    const name = obj.metadata?.name;
    if (typeof name !== 'string') continue;
    if (!CLUSTER_SCOPED.has(obj.kind) && !obj.metadata.namespace) obj.metadata.namespace = 'default';
    byKind.get(obj.kind)!.set(objectKey(obj.kind, obj.metadata.namespace, name), obj);
  }
  return { generation, objects: byKind, diagnostics };
}
