// The Kubernetes provider: informers on every kind a Snapshot holds, and a new Snapshot
// published (debounced) shortly after any of their caches changes. Same shape as the file
// provider (reload / snapshot / watch / close), so the run loop does not care which one it has.
//
// The first snapshot is published only once every informer has listed, so translate() never sees
// a half-read cluster (a route whose Service is simply not listed yet would be reported
// BackendNotFound). Kinds whose CRD is not installed are empty and explained in
// snapshot.diagnostics; discovery is retried periodically so that installing the CRDs later works.
import type { KubeObject } from '../../api/meta.ts';
import { CONTROLLER_NAME } from '../../api/meta.ts';
import { BUNDLE_VERSION_ANNOTATION, buildSnapshot, crdBundleVersions, SNAPSHOT_KINDS } from '../snapshot.ts';
import type { ProviderDiagnostic, Snapshot, SnapshotKind } from '../snapshot.ts';
import { AddressPool, wantsPoolAddress, withAssignedAddress } from './address-pool.ts';
import { KubeApiError, KubeClient } from './client.ts';
import { CRD_GROUPS, CRD_RESOURCE, discover, GATEWAY_GROUP } from './discovery.ts';
import type { ResourceInfo } from './discovery.ts';
import { Informer } from './informer.ts';
import { loadConnection } from './kubeconfig.ts';
import type { ClusterConnection } from './kubeconfig.ts';

export interface KubernetesProviderOptions {
  /** Connection to use; default: resolved from `kubeconfig`, $KUBECONFIG, in-cluster, ~/.kube/config. */
  connection?: ClusterConnection;
  kubeconfig?: string;
  /** CIDR from which Gateways without spec.addresses get an address. */
  addressPool?: string;
  /** GatewayClasses with this controllerName are ours (default CONTROLLER_NAME). */
  controllerName?: string;
  log?: (line: string) => void;
  /** Quiet period after an informer change before publishing (ms, default 10). */
  debounceMs?: number;
  /** How often kinds that are not served are looked up again (ms, default 30 s). */
  rediscoverMs?: number;
  /** Passed to the informers (tests use short ones). */
  watchTimeoutSeconds?: number;
  backoffMaxMs?: number;
}

export class KubernetesProvider {
  readonly client: KubeClient;
  private readonly options: KubernetesProviderOptions;
  private readonly log: (line: string) => void;
  private readonly controllerName: string;
  private readonly pool: AddressPool | undefined;
  private readonly informers = new Map<SnapshotKind, Informer>();
  /** The Gateway API CRDs (metadata only), for their bundle versions; unset without permission. */
  private crds: Informer<typeof CRD_RESOURCE> | undefined;
  private readonly missing = new Map<SnapshotKind, string>();
  private current: Snapshot = buildSnapshot([], 0);
  private fingerprint = '';
  private unassigned = new Set<string>();
  private readonly copies = new WeakMap<KubeObject, { ip: string; copy: KubeObject }>();
  /** What the last snapshot held, by "Kind/key", with the version it was published at. */
  private published = new Map<string, { version: string; object: KubeObject }>();
  private listener: ((s: Snapshot) => void) | undefined;
  private started: Promise<boolean> | undefined;
  private debounceTimer: ReturnType<typeof setTimeout> | undefined;
  private rediscoverTimer: ReturnType<typeof setInterval> | undefined;
  private rediscovering = false;
  private closed = false;

  constructor(options: KubernetesProviderOptions = {}) {
    this.options = options;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.controllerName = options.controllerName ?? CONTROLLER_NAME;
    // Validate the pool before connecting, so a typo is reported at once.
    this.pool = options.addressPool ? new AddressPool(options.addressPool) : undefined;
    this.client = new KubeClient(options.connection ?? loadConnection({ kubeconfig: options.kubeconfig }));
  }

  /**
   * The first call discovers the resources, starts the informers and resolves once they have all
   * listed, with the first snapshot published. Later calls have nothing to re-read (informers
   * push changes) and resolve false.
   */
  reload(): Promise<boolean> {
    if (!this.started) {
      this.started = this.start();
      return this.started;
    }
    return this.started.then(() => false);
  }

  /** The latest published snapshot (generation 0 before the informers have synced). */
  snapshot(): Snapshot {
    return this.current;
  }

  /** Calls onSnapshot with each new snapshot. */
  watch(onSnapshot: (snapshot: Snapshot) => void): void {
    this.listener = onSnapshot;
  }

  /** The object as the informer holds it now (status writes compare against it). */
  cached(kind: SnapshotKind, key: string): KubeObject | undefined {
    return this.informers.get(kind)?.cache.get(key);
  }

  /** Resource (group/version/plural) serving a kind, if served. */
  resource(kind: SnapshotKind): ResourceInfo | undefined {
    return this.informers.get(kind)?.resource;
  }

  /** Every cached object of a kind. */
  cachedObjects(kind: SnapshotKind): IterableIterator<KubeObject> {
    return (this.informers.get(kind)?.cache ?? new Map<string, KubeObject>()).values();
  }

  /** Gateways ("namespace/name") that wanted a pool address and got none (pool exhausted). */
  unassignedGateways(): ReadonlySet<string> {
    return this.unassigned;
  }

  get addressPool(): AddressPool | undefined {
    return this.pool;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.rediscoverTimer);
    await Promise.all([...this.informers.values(), ...(this.crds ? [this.crds] : [])].map((i) => i.stop()));
    this.client.close();
  }

  private async start(): Promise<boolean> {
    // Until discovery has answered (the API server may still be starting), there is no point in
    // a first snapshot without the Gateway API kinds: retry with backoff.
    await this.startCrdInformer();
    let transient = await this.discoverAndStart(SNAPSHOT_KINDS);
    for (let delay = 500; transient.length > 0 && !this.closed; delay = Math.min(delay * 2, 5_000)) {
      await new Promise((r) => setTimeout(r, delay));
      transient = await this.discoverAndStart(transient);
    }
    await Promise.all([...this.informers.values(), ...(this.crds ? [this.crds] : [])].map((i) => i.waitSynced()));
    if (this.closed) return false;
    this.rediscoverTimer = setInterval(() => void this.rediscover(), this.options.rediscoverMs ?? 30_000);
    this.rediscoverTimer.unref?.();
    return this.publish(true);
  }

  /**
   * Watches the Gateway API CRDs' metadata, so that GatewayClass SupportedVersion follows the
   * installed bundle. Without permission to list CRDs (an older ClusterRole), it says so once and
   * the snapshot carries no versions: Portico then assumes the bundle it implements.
   */
  private async startCrdInformer(): Promise<void> {
    try {
      await this.client.request('GET', `/apis/${CRD_RESOURCE.group}/${CRD_RESOURCE.version}/${CRD_RESOURCE.plural}`, { query: { limit: 1 }, accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' });
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 403 || err.status === 401)) {
        this.log(`portico: kubernetes: cannot list customresourcedefinitions (${err.message}); GatewayClass SupportedVersion assumes Gateway API v1.6. Grant list/watch on apiextensions.k8s.io customresourcedefinitions (deploy/10-rbac.yaml) to check the installed bundle.`);
        return;
      }
      // Anything else (API server still starting): the informer retries like the others.
    }
    if (this.closed) return;
    this.crds = new Informer(this.client, CRD_RESOURCE, {
      onChange: () => this.schedule(),
      log: this.log,
      metadataOnly: true,
      // A CRD's name is "<plural>.<group>"; keep only the annotation that matters.
      keep: (crd) => crd.metadata.name.endsWith(`.${GATEWAY_GROUP}`)
        ? { apiVersion: crd.apiVersion, kind: crd.kind, metadata: { name: crd.metadata.name, annotations: pick(crd.metadata.annotations, BUNDLE_VERSION_ANNOTATION) }, spec: { group: GATEWAY_GROUP } }
        : undefined,
      watchTimeoutSeconds: this.options.watchTimeoutSeconds,
      backoffMaxMs: this.options.backoffMaxMs,
    });
    this.crds.start();
  }

  /** Returns the kinds whose discovery failed for a transient reason. */
  private async discoverAndStart(kinds: readonly SnapshotKind[]): Promise<SnapshotKind[]> {
    const found = await discover(this.client, kinds);
    for (const [kind, reason] of found.missing) {
      if (this.missing.get(kind) !== reason) this.log(`portico: kubernetes: ${reason}; ${kind} objects are ignored until it is served`);
      this.missing.set(kind, reason);
    }
    for (const [kind, resource] of found.resources) {
      if (this.closed || this.informers.has(kind)) continue;
      if (this.missing.delete(kind)) this.log(`portico: kubernetes: ${kind} is now served (${resource.apiVersion}); watching it`);
      this.informers.set(kind, this.startInformer(kind, resource));
    }
    return [...found.transient];
  }

  private startInformer(kind: SnapshotKind, resource: ResourceInfo): Informer {
    const informer: Informer = new Informer(this.client, resource, {
      onChange: () => this.schedule(),
      onGone: (message) => void this.replaceGone(kind, informer, message),
      log: this.log,
      watchTimeoutSeconds: this.options.watchTimeoutSeconds,
      backoffMaxMs: this.options.backoffMaxMs,
    });
    informer.start();
    return informer;
  }

  /**
   * The watched version of a kind is no longer served (404): its CRD was removed, or upgraded to
   * a bundle that serves the kind at other versions only. Discovery is asked again at once (not
   * at the next periodic rediscovery): when another version serves the kind, an informer for it
   * takes over once it has listed, and until then the objects of the old one stay in the
   * snapshot, so no route disappears (and stops carrying traffic) during a CRD upgrade.
   * Otherwise the kind is empty and reported missing until it is served again.
   */
  private async replaceGone(kind: SnapshotKind, old: Informer, message: string): Promise<void> {
    this.log(`portico: kubernetes: ${message}; looking for another served version`);
    let next: ResourceInfo | undefined;
    // Discovery lags a little behind the CRD change: while it still lists the version that just
    // answered 404, ask again (for up to ~5 s). If it keeps listing it (a 404 while the API
    // server was starting), that version is watched again.
    for (let attempt = 0; attempt < 10 && !this.closed; attempt++) {
      const found = await discover(this.client, [kind]);
      const r = found.resources.get(kind);
      if (!r && !found.transient.has(kind)) {
        next = undefined; // not served at all: the CRD was removed
        break;
      }
      next = r ?? next;
      if (r && r.version !== old.resource.version) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (this.closed || this.informers.get(kind) !== old) return;
    if (next) {
      const informer = this.startInformer(kind, next);
      // A list that keeps failing must not hold the old objects forever.
      await Promise.race([informer.waitSynced(), new Promise((resolve) => setTimeout(resolve, 30_000).unref?.())]);
      if (this.closed || this.informers.get(kind) !== old) {
        await informer.stop();
        return;
      }
      if (!informer.isGone) {
        this.informers.set(kind, informer);
        this.log(`portico: kubernetes: ${kind} is now watched as ${next.apiVersion}`);
        this.schedule();
        return;
      }
    }
    this.informers.delete(kind);
    this.missing.set(kind, message);
    this.schedule();
  }

  /** Looks up kinds that were not served; informers started now join the next snapshot. */
  private async rediscover(): Promise<void> {
    if (this.rediscovering || this.closed || this.missing.size === 0) return;
    this.rediscovering = true;
    try {
      const kinds = [...this.missing.keys()];
      await this.discoverAndStart(kinds);
      const fresh = kinds.map((k) => this.informers.get(k)).filter((i): i is Informer => i !== undefined);
      await Promise.all(fresh.map((i) => i.waitSynced()));
      if (fresh.length > 0) this.schedule();
    } catch (err) {
      this.log(`portico: kubernetes: discovery failed: ${(err as Error).message}`);
    } finally {
      this.rediscovering = false;
    }
  }

  private schedule(): void {
    if (this.closed || !this.started) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      // Wait for the initial sync of every informer before the first publication.
      if (this.current.generation === 0) return;
      if (this.publish(false)) this.listener?.(this.current);
    }, this.options.debounceMs ?? 10);
  }

  /** Builds a snapshot from the caches; returns whether it differs from the current one. */
  private publish(force: boolean): boolean {
    const objects: KubeObject[] = [];
    const parts: string[] = [];
    const published = new Map<string, { version: string; object: KubeObject }>();
    for (const [kind, informer] of this.informers) {
      for (const [key, cached] of informer.cache) {
        const id = `${kind}/${key}`;
        const version = versionOf(kind, cached);
        // An object whose version did not change (only its status did, e.g. our own write) is
        // handed over as the instance published before: translation caches by identity.
        const before = this.published.get(id);
        const obj = before && before.version === version ? before.object : cached;
        published.set(id, { version, object: obj });
        objects.push(obj);
        parts.push(`${id}@${version}`);
      }
    }
    this.published = published;
    const withAddresses = this.assignAddresses(objects);
    const diagnostics = this.diagnostics();
    const crdVersions = this.crds ? crdBundleVersions(this.crds.cache.values()) : undefined;
    parts.sort();
    const fingerprint = JSON.stringify([parts, diagnostics, [...withAddresses.assigned].sort(), crdVersions ? Object.entries(crdVersions).sort() : null]);
    if (!force && fingerprint === this.fingerprint) return false;
    this.fingerprint = fingerprint;
    const snapshot = buildSnapshot(withAddresses.objects, this.current.generation + 1, diagnostics);
    this.current = crdVersions ? { ...snapshot, crdBundleVersions: crdVersions } : snapshot;
    return true;
  }

  private diagnostics(): ProviderDiagnostic[] {
    const out: ProviderDiagnostic[] = [];
    for (const [kind, reason] of [...this.missing].sort()) out.push({ where: `kubernetes ${kind}`, message: reason });
    for (const [kind, informer] of [...this.informers].sort()) {
      if (informer.lastError) out.push({ where: `kubernetes watch ${informer.resource.plural}`, message: informer.lastError });
      else if (!informer.synced) out.push({ where: `kubernetes watch ${informer.resource.plural}`, message: `${kind} not listed yet` });
    }
    if (this.crds?.lastError) out.push({ where: `kubernetes watch ${CRD_RESOURCE.plural}`, message: this.crds.lastError });
    for (const key of [...this.unassigned].sort()) {
      out.push({ where: `Gateway/${key}`, message: `the address pool ${this.pool?.cidr} is exhausted; no address assigned` });
    }
    return out;
  }

  /**
   * The same copy for the same Gateway version and address, so that translation, which
   * remembers work by object identity, sees an unchanged Gateway as unchanged.
   */
  private copyWithAddress(gateway: KubeObject, ip: string): KubeObject {
    const known = this.copies.get(gateway);
    if (known && known.ip === ip) return known.copy;
    const copy = withAssignedAddress(gateway, ip);
    this.copies.set(gateway, { ip, copy });
    return copy;
  }

  /** Gives each of our Gateways without spec.addresses its pool address (on a copy). */
  private assignAddresses(objects: KubeObject[]): { objects: KubeObject[]; assigned: string[] } {
    if (!this.pool) return { objects, assigned: [] };
    const ourClasses = new Set<string>();
    for (const o of objects) {
      if (o.kind === 'GatewayClass' && (o.spec as { controllerName?: string } | undefined)?.controllerName === this.controllerName) {
        ourClasses.add(o.metadata.name);
      }
    }
    const wanting = objects.filter((o) => o.kind === 'Gateway'
      && ourClasses.has((o.spec as { gatewayClassName?: string } | undefined)?.gatewayClassName ?? '')
      && wantsPoolAddress(o));
    const addresses = this.pool.assign(wanting.map((g) => ({
      key: `${g.metadata.namespace}/${g.metadata.name}`,
      name: g.metadata.name,
      namespace: g.metadata.namespace ?? 'default',
      creationTimestamp: g.metadata.creationTimestamp,
    })));
    this.unassigned = new Set([...addresses].filter(([, ip]) => ip === undefined).map(([k]) => k));
    const replace = new Map<KubeObject, KubeObject>();
    for (const g of wanting) {
      const ip = addresses.get(`${g.metadata.namespace}/${g.metadata.name}`);
      // No address left: a sentinel nobody holds, so that the Gateway's listeners fail to bind
      // instead of falling back to --bind-address and serving where status says they do not.
      replace.set(g, this.copyWithAddress(g, ip ?? this.pool.unbindableAddress));
    }
    return {
      objects: objects.map((o) => replace.get(o) ?? o),
      assigned: [...addresses].map(([k, ip]) => `${k}=${ip ?? ''}`),
    };
  }
}

/**
 * What identifies a version of an object for translation. Gateway API objects change status
 * whenever Portico writes it; status is not an input, so their version is the generation (spec)
 * plus the metadata translation may read, and the uid: an object deleted and created again under
 * its name starts again at generation 1, and is a new object. Other kinds: the resourceVersion.
 */
function versionOf(kind: SnapshotKind, obj: KubeObject): string {
  if (!CRD_GROUPS[kind] || obj.metadata.generation === undefined) return obj.metadata.resourceVersion ?? '';
  const m = obj.metadata;
  // apiVersion: after a CRD upgrade the kind may be watched at another version (replaceGone).
  return JSON.stringify([obj.apiVersion, m.uid ?? '', m.generation, m.labels ?? {}, m.annotations ?? {}, m.deletionTimestamp ?? '']);
}

/** Only the given key of a map of annotations (undefined when absent). */
function pick(annotations: Record<string, string> | undefined, key: string): Record<string, string> | undefined {
  const value = annotations?.[key];
  return value === undefined ? undefined : { [key]: value };
}
