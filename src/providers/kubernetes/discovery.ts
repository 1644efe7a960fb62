// Which API resource serves each snapshot kind. Core kinds are fixed; Gateway API kinds are CRDs
// whose served versions differ between installations (standard or experimental channel, older
// bundles), so they are found through discovery: the group's preferred version when it serves the
// kind, else the first version (in the server's priority order) that does. A kind whose CRD is
// not installed has no resource and is reported, not fatal.
import type { SnapshotKind } from '../snapshot.ts';
import { KubeApiError } from './client.ts';
import type { KubeClient } from './client.ts';

export interface ResourceInfo {
  kind: SnapshotKind;
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  /** "group/version" or "v1" for core; stamped on objects whose list items lack it. */
  apiVersion: string;
}

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_X_GROUP = 'gateway.networking.x-k8s.io';

/** Kinds served by the Kubernetes core, always present. */
const CORE: Record<string, Omit<ResourceInfo, 'apiVersion'>> = {
  Namespace: { kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  Service: { kind: 'Service', group: '', version: 'v1', plural: 'services', namespaced: true },
  Secret: { kind: 'Secret', group: '', version: 'v1', plural: 'secrets', namespaced: true },
  ConfigMap: { kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  EndpointSlice: { kind: 'EndpointSlice', group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', namespaced: true },
};

/** The API group of each Gateway API kind Portico reads. */
export const CRD_GROUPS: Partial<Record<SnapshotKind, string>> = {
  GatewayClass: GATEWAY_GROUP,
  Gateway: GATEWAY_GROUP,
  ListenerSet: GATEWAY_GROUP,
  HTTPRoute: GATEWAY_GROUP,
  GRPCRoute: GATEWAY_GROUP,
  TLSRoute: GATEWAY_GROUP,
  TCPRoute: GATEWAY_GROUP,
  UDPRoute: GATEWAY_GROUP,
  ReferenceGrant: GATEWAY_GROUP,
  BackendTLSPolicy: GATEWAY_GROUP,
  XBackendTrafficPolicy: GATEWAY_X_GROUP,
};

/**
 * CustomResourceDefinitions, read (metadata only) for the bundle-version annotation of the
 * Gateway API CRDs (GatewayClass SupportedVersion). Served by every API server.
 */
export const CRD_RESOURCE = {
  kind: 'CustomResourceDefinition',
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  namespaced: false,
  apiVersion: 'apiextensions.k8s.io/v1',
} as const;

export function coreResource(kind: SnapshotKind): ResourceInfo | undefined {
  const r = CORE[kind];
  return r ? { ...r, apiVersion: r.group ? `${r.group}/${r.version}` : r.version } : undefined;
}

export interface DiscoveryResult {
  resources: Map<SnapshotKind, ResourceInfo>;
  /** Kinds not served, with the reason (CRD not installed, discovery failed). */
  missing: Map<SnapshotKind, string>;
  /** Kinds whose discovery failed for a reason that should pass (API server unreachable, 5xx). */
  transient: Set<SnapshotKind>;
}

interface APIGroup {
  versions?: { groupVersion: string; version: string }[];
  preferredVersion?: { version: string };
}

interface APIResourceList {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

/** Looks up the given kinds. Never throws: failures land in `missing`. */
export async function discover(client: KubeClient, kinds: readonly SnapshotKind[]): Promise<DiscoveryResult> {
  const result: DiscoveryResult = { resources: new Map(), missing: new Map(), transient: new Set() };
  const byGroup = new Map<string, SnapshotKind[]>();
  for (const kind of kinds) {
    const core = coreResource(kind);
    if (core) {
      result.resources.set(kind, core);
      continue;
    }
    const group = CRD_GROUPS[kind];
    if (!group) {
      result.missing.set(kind, 'not a kind Portico knows how to watch');
      continue;
    }
    byGroup.set(group, [...(byGroup.get(group) ?? []), kind]);
  }
  for (const [group, groupKinds] of byGroup) {
    try {
      const found = await discoverGroup(client, group, groupKinds);
      for (const kind of groupKinds) {
        const r = found.get(kind);
        if (r) result.resources.set(kind, r);
        else result.missing.set(kind, `${kind} is not served by the API server (is the ${group} CRD for it installed?)`);
      }
    } catch (err) {
      const notFound = err instanceof KubeApiError && err.status === 404;
      const message = notFound
        ? `API group ${group} is not served (Gateway API CRDs not installed?)`
        : `discovery of ${group} failed: ${(err as Error).message}`;
      for (const kind of groupKinds) {
        result.missing.set(kind, message);
        if (!notFound) result.transient.add(kind);
      }
    }
  }
  return result;
}

async function discoverGroup(client: KubeClient, group: string, kinds: SnapshotKind[]): Promise<Map<SnapshotKind, ResourceInfo>> {
  const info = await client.request<APIGroup>('GET', `/apis/${group}`);
  const versions = (info.versions ?? []).map((v) => v.version);
  const preferred = info.preferredVersion?.version;
  // Preferred first, then the server's own priority order.
  const order = preferred ? [preferred, ...versions.filter((v) => v !== preferred)] : versions;
  const found = new Map<SnapshotKind, ResourceInfo>();
  for (const version of order) {
    if (kinds.every((k) => found.has(k))) break;
    let list: APIResourceList;
    try {
      list = await client.request<APIResourceList>('GET', `/apis/${group}/${version}`);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) continue;
      throw err;
    }
    for (const r of list.resources ?? []) {
      if (r.name.includes('/')) continue; // subresources such as httproutes/status
      const kind = kinds.find((k) => k === r.kind);
      if (!kind || found.has(kind)) continue;
      if (r.verbs && !(r.verbs.includes('list') && r.verbs.includes('watch'))) continue;
      found.set(kind, { kind, group, version, plural: r.name, namespaced: r.namespaced, apiVersion: `${group}/${version}` });
    }
  }
  return found;
}
