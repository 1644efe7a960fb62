// Generated infrastructure (Gateway API `spec.infrastructure`, GEP-1762) in Kubernetes mode: one
// Service per accepted Gateway of Portico's classes, so that the Portico pods serving it can be
// reached under a name of the Gateway's own, with the Gateway's infrastructure labels and
// annotations. The data plane runs in Portico's own pods (deploy/), so a Service that selects them
// is the one resource a Gateway needs generated.
//
//   name       <gateway>-<gatewayclass> in the Gateway's namespace (generatedServiceName: too long
//              or not a DNS-1035 label → truncated, with a hash of the full name appended)
//   labels     spec.infrastructure.labels, then gateway.networking.k8s.io/gateway-name,
//              gateway.networking.k8s.io/gateway-class-name and app.kubernetes.io/managed-by=portico
//   annotations  spec.infrastructure.annotations, then portico.dev/controller-name (whose Services
//              these are) and portico.dev/managed-keys (the keys Portico set, so that a key
//              removed from the Gateway is removed from the Service and keys others add are kept)
//   spec       type (--gateway-service-type), selector (--gateway-service-selector), one port per
//              distinct port/protocol of the Gateway's listeners and of its accepted ListenerSets
//   owner      the Gateway (controller: true), so the garbage collector removes the Service with it
//
// Only the elected leader writes, and only when something differs from what the cluster holds
// (compared against the informer cache). Writes carry the resourceVersion they were computed
// from; a 409 re-reads and computes again. A Service of the wanted name that Portico did not
// generate (no managed-by label and controller-name annotation of ours) is never touched, and
// Services Portico generated for Gateways that are gone, no longer accepted or no longer
// Portico's are deleted (with a uid precondition).
import { createHash } from 'node:crypto';
import type { Condition, KubeObject } from '../../api/meta.ts';
import type { OwnedStatus } from '../../translate/index.ts';
import { KubeApiError } from './client.ts';
import type { KubeClient } from './client.ts';
import { LatestRunner } from './latest-runner.ts';
import { labelValueProblem, qualifiedKeyProblem } from '../../api/validation/metadata.ts';

export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
export const GATEWAY_CLASS_NAME_LABEL = 'gateway.networking.k8s.io/gateway-class-name';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'portico';
export const CONTROLLER_ANNOTATION = 'portico.dev/controller-name';
export const MANAGED_KEYS_ANNOTATION = 'portico.dev/managed-keys';

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];
export const DEFAULT_SERVICE_SELECTOR = 'app.kubernetes.io/name=portico';

export interface GatewayServiceSettings {
  type: ServiceType;
  /** The labels of Portico's own pods (deploy/20-deployment.yaml). */
  selector: Record<string, string>;
}

const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 63;
/** Characters of the hash appended to names and label values that had to be shortened. */
const HASH_CHARS = 8;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_CHARS);
}

/**
 * The generated Service's name: `<gateway>-<gatewayclass>` (GEP-1762) when that is a valid
 * Service name (a DNS-1035 label: at most 63 characters, lowercase letters, digits and "-",
 * starting with a letter). Otherwise (Gateway and class names are DNS subdomains of up to 253
 * characters, which may contain "." or start with a digit): "." and other characters become "-",
 * a leading non-letter gets "gw-" in front, the result is cut to 54 characters (trailing "-"
 * dropped) and "-" plus the first 8 hex digits of the SHA-256 of `<gateway>-<gatewayclass>` is
 * appended. The hash keeps distinct Gateways apart after the cut.
 */
export function generatedServiceName(gateway: string, gatewayClass: string): string {
  const full = `${gateway}-${gatewayClass}`;
  if (full.length <= MAX_NAME && DNS_1035_LABEL.test(full)) return full;
  let base = full.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]/.test(base)) base = `gw-${base}`;
  base = base.slice(0, MAX_NAME - HASH_CHARS - 1).replace(/-+$/, '');
  return `${base}-${shortHash(full)}`;
}

/**
 * A label value for a name (the gateway-name and gateway-class-name labels): the name itself when
 * it fits (63 characters), else its first 54 characters (ending in a letter or digit) plus "-"
 * and the 8-hex-digit hash of the full name. Selecting by the label then needs that value.
 */
export function labelValueFor(name: string): string {
  if (labelValueProblem(name) === undefined) return name;
  const base = name.slice(0, MAX_NAME - HASH_CHARS - 1).replace(/[^A-Za-z0-9]+$/, '');
  return `${base}-${shortHash(name)}`;
}

/** Parses `k=v[,k=v…]` (the --gateway-service-selector flag); throws with a readable reason. */
export function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}" is not KEY=VALUE`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const keyProblem = qualifiedKeyProblem(key);
    if (keyProblem) throw new Error(`label key "${key}": ${keyProblem}`);
    const valueProblem = labelValueProblem(value);
    if (valueProblem) throw new Error(`label value "${value}": ${valueProblem}`);
    out[key] = value;
  }
  if (Object.keys(out).length === 0) throw new Error('at least one KEY=VALUE is needed (the labels of the Portico pods)');
  return out;
}

interface ServicePort {
  name: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  targetPort: number;
  nodePort?: number;
}

type Listener = { port?: unknown; protocol?: unknown };

function isAccepted(status: Record<string, unknown>): boolean {
  const conditions = Array.isArray(status.conditions) ? (status.conditions as Condition[]) : [];
  return conditions.some((c) => c.type === 'Accepted' && c.status === 'True');
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** One port per distinct port/protocol (UDP listeners: UDP; all others: TCP), sorted. */
function servicePorts(listeners: readonly Listener[]): ServicePort[] {
  const seen = new Map<string, ServicePort>();
  for (const l of listeners) {
    const port = l.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const protocol = l.protocol === 'UDP' ? 'UDP' : 'TCP';
    const name = `${protocol.toLowerCase()}-${port}`;
    if (!seen.has(name)) seen.set(name, { name, protocol, port, targetPort: port });
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

/**
 * The Services translate()'s results ask for, by "namespace/name": one per accepted Gateway
 * (translate() reports only the Gateways of Portico's classes), with the ports of its listeners
 * and of the accepted ListenerSets attached to it. A Gateway without any valid port gets none
 * (a Service needs at least one).
 */
export function desiredServices(statuses: readonly OwnedStatus[], settings: GatewayServiceSettings, controllerName: string): Map<string, KubeObject> {
  const extraListeners = new Map<string, Listener[]>();
  for (const s of statuses) {
    if (s.object.kind !== 'ListenerSet' || !isAccepted(s.status)) continue;
    const spec = (s.object.spec ?? {}) as { parentRef?: { name?: unknown; namespace?: unknown }; listeners?: unknown };
    const parent = `${typeof spec.parentRef?.namespace === 'string' ? spec.parentRef.namespace : s.object.metadata.namespace}/${String(spec.parentRef?.name)}`;
    const list = extraListeners.get(parent) ?? [];
    if (Array.isArray(spec.listeners)) list.push(...(spec.listeners as Listener[]));
    extraListeners.set(parent, list);
  }
  const out = new Map<string, KubeObject>();
  for (const s of statuses) {
    // A Gateway being deleted loses its Service (the garbage collector may be deleting it already).
    if (s.object.kind !== 'Gateway' || !isAccepted(s.status) || s.object.metadata.deletionTimestamp) continue;
    const gw = s.object;
    const namespace = gw.metadata.namespace ?? 'default';
    const spec = (gw.spec ?? {}) as { gatewayClassName?: unknown; listeners?: unknown; infrastructure?: { labels?: unknown; annotations?: unknown } };
    const className = typeof spec.gatewayClassName === 'string' ? spec.gatewayClassName : '';
    const listeners = [...(Array.isArray(spec.listeners) ? (spec.listeners as Listener[]) : []), ...(extraListeners.get(`${namespace}/${gw.metadata.name}`) ?? [])];
    const ports = servicePorts(listeners);
    if (ports.length === 0 || !gw.metadata.uid) continue;
    const name = generatedServiceName(gw.metadata.name, className);
    // Two Gateways whose names join alike ("a-b" + "c", "a" + "b-c"): the first by name keeps it.
    if (out.has(`${namespace}/${name}`)) continue;
    const labels: Record<string, string> = {
      ...stringMap(spec.infrastructure?.labels),
      [GATEWAY_NAME_LABEL]: labelValueFor(gw.metadata.name),
      [GATEWAY_CLASS_NAME_LABEL]: labelValueFor(className),
      [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    };
    const annotations: Record<string, string> = { ...stringMap(spec.infrastructure?.annotations), [CONTROLLER_ANNOTATION]: controllerName };
    annotations[MANAGED_KEYS_ANNOTATION] = JSON.stringify({ labels: Object.keys(labels).sort(), annotations: [...Object.keys(annotations), MANAGED_KEYS_ANNOTATION].sort() });
    out.set(`${namespace}/${name}`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace,
        labels,
        annotations,
        // No blockOwnerDeletion: it would need update on gateways/finalizers.
        ownerReferences: [{ apiVersion: GATEWAY_API_VERSION, kind: 'Gateway', name: gw.metadata.name, uid: gw.metadata.uid, controller: true }],
      },
      spec: { type: settings.type, selector: { ...settings.selector }, ports },
    });
  }
  return out;
}

/** Whether Portico (this controllerName) generated the Service. */
export function isGenerated(service: KubeObject, controllerName: string): boolean {
  return service.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
    && service.metadata.annotations?.[CONTROLLER_ANNOTATION] === controllerName;
}

function managedKeys(service: KubeObject): { labels: string[]; annotations: string[] } {
  try {
    const parsed = JSON.parse(service.metadata.annotations?.[MANAGED_KEYS_ANNOTATION] ?? '{}') as { labels?: unknown; annotations?: unknown };
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    return { labels: strings(parsed.labels), annotations: strings(parsed.annotations) };
  } catch {
    return { labels: [], annotations: [] };
  }
}

function withoutKeys(map: Record<string, string> | undefined, keys: readonly string[]): Record<string, string> {
  const out = { ...(map ?? {}) };
  for (const k of keys) delete out[k];
  return out;
}

const sameMap = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean => {
  const ea = Object.entries(a ?? {});
  return ea.length === Object.keys(b ?? {}).length && ea.every(([k, v]) => b?.[k] === v);
};

/**
 * The Service to write over `current` (one Portico generated) so that it carries what `desired`
 * says, keeping what others added (labels, annotations, owners, server-set spec fields such as
 * clusterIP and the node ports of unchanged ports); undefined when nothing differs.
 */
export function mergeService(current: KubeObject, desired: KubeObject): KubeObject | undefined {
  const before = managedKeys(current);
  const labels = { ...withoutKeys(current.metadata.labels, before.labels), ...desired.metadata.labels };
  const annotations = { ...withoutKeys(current.metadata.annotations, before.annotations), ...desired.metadata.annotations };
  const ours = (desired.metadata.ownerReferences as Record<string, unknown>[])[0];
  const currentOwners = Array.isArray(current.metadata.ownerReferences) ? (current.metadata.ownerReferences as Record<string, unknown>[]) : [];
  const owners = [...currentOwners.filter((o) => !(o.kind === 'Gateway' && String(o.apiVersion).startsWith('gateway.networking.k8s.io/'))), ours];
  const spec = (current.spec ?? {}) as Record<string, unknown>;
  const want = desired.spec as { type: ServiceType; selector: Record<string, string>; ports: ServicePort[] };
  const oldPorts = Array.isArray(spec.ports) ? (spec.ports as ServicePort[]) : [];
  const nodePorts = want.type !== 'ClusterIP' && spec.type !== 'ClusterIP';
  const ports = want.ports.map((p) => {
    const old = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === p.protocol);
    return nodePorts && old?.nodePort ? { ...p, nodePort: old.nodePort } : { ...p };
  });
  const unchanged = sameMap(labels, current.metadata.labels) && sameMap(annotations, current.metadata.annotations)
    && owners.length === currentOwners.length && currentOwners.some((o) => o.uid === ours.uid && o.controller === true && o.name === ours.name)
    && spec.type === want.type && sameMap(spec.selector as Record<string, string>, want.selector)
    && ports.length === oldPorts.length
    && ports.every((p, i) => p.name === oldPorts[i].name && p.port === oldPorts[i].port && (oldPorts[i].protocol ?? 'TCP') === p.protocol && oldPorts[i].targetPort === p.targetPort);
  if (unchanged) return undefined;
  return {
    ...current,
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { ...current.metadata, labels, annotations, ownerReferences: owners },
    spec: { ...spec, type: want.type, selector: { ...want.selector }, ports },
  };
}

/** What the reconciler needs from the provider: the client and the informer caches. */
export interface ServiceSource {
  readonly client: KubeClient;
  cached(kind: 'Service' | 'Namespace', key: string): KubeObject | undefined;
  cachedObjects(kind: 'Service'): IterableIterator<KubeObject>;
}

export interface GatewayServicesOptions extends GatewayServiceSettings {
  controllerName: string;
  /** Only the leader writes; default: always. */
  isLeader?: () => boolean;
  log?: (line: string) => void;
  /** Attempts per Service on 409 Conflict (default 5). */
  maxConflictRetries?: number;
}

export interface ServicesReport {
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  /** Not the leader, a foreign Service in the way, or a namespace being deleted. */
  skipped: number;
  failed: number;
}

const emptyReport = (): ServicesReport => ({ created: 0, updated: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0 });

/**
 * Keeps the generated Services in line with translate()'s results. Passes are serialized; results
 * that arrive during a pass are reconciled once it ends (only the latest). Failed writes (API
 * server unreachable) are retried with backoff (1 s → 30 s).
 */
export class GatewayServices {
  private readonly source: ServiceSource;
  private readonly options: GatewayServicesOptions;
  private readonly isLeader: () => boolean;
  private readonly log: (line: string) => void;
  private readonly runner: LatestRunner<readonly OwnedStatus[], ServicesReport>;
  /** Foreign Services in the way, reported once each ("namespace/name"). */
  private readonly reported = new Set<string>();
  /**
   * What our last write left, by "namespace/name" (null: deleted), with the cached
   * resourceVersion it was based on: until the informer catches up, its cache shows the version
   * we wrote against, and comparing against that would write again.
   */
  private readonly written = new Map<string, { basedOn: string | undefined; object: KubeObject | null }>();

  constructor(source: ServiceSource, options: GatewayServicesOptions) {
    this.source = source;
    this.options = options;
    this.isLeader = options.isLeader ?? (() => true);
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.runner = new LatestRunner(
      (statuses) => this.pass(statuses),
      (err) => {
        this.log(`portico: generating Gateway Services failed: ${err.message}`);
        return { ...emptyReport(), failed: 1 };
      },
      emptyReport(),
    );
  }

  /** Queues one translation's results; resolves once they (or newer ones) are reconciled. */
  reconcile(statuses: readonly OwnedStatus[]): Promise<ServicesReport> {
    return this.runner.run(statuses);
  }

  idle(): Promise<void> {
    return this.runner.idle();
  }

  stop(): void {
    this.runner.stop();
  }

  private async pass(statuses: readonly OwnedStatus[]): Promise<ServicesReport> {
    const report = emptyReport();
    const desired = desiredServices(statuses, this.options, this.options.controllerName);
    if (!this.isLeader()) {
      report.skipped = desired.size;
      return report;
    }
    for (const [key, service] of desired) {
      if (!this.isLeader()) return { ...report, skipped: report.skipped + 1 };
      await this.apply(key, service, report);
    }
    // No results at all means no translation yet, not "no Gateways": deleting then would only
    // make Services flap.
    if (statuses.length === 0) return report;
    for (const service of [...this.source.cachedObjects('Service')]) {
      const key = `${service.metadata.namespace}/${service.metadata.name}`;
      if (desired.has(key) || !isGenerated(service, this.options.controllerName)) continue;
      if (this.current(key) === undefined) continue; // already deleted by us
      if (!this.isLeader()) return { ...report, skipped: report.skipped + 1 };
      await this.delete(key, service, report);
    }
    return report;
  }

  /** The Service as the cluster holds it, to our knowledge (cache, or our newer write). */
  private current(key: string): KubeObject | undefined {
    const cached = this.source.cached('Service', key);
    const mine = this.written.get(key);
    if (!mine) return cached;
    if (cached?.metadata.resourceVersion !== mine.basedOn) {
      this.written.delete(key); // the informer has seen our write (or a later change)
      return cached;
    }
    return mine.object ?? undefined;
  }

  private async apply(key: string, desired: KubeObject, report: ServicesReport): Promise<void> {
    const ns = desired.metadata.namespace!;
    const basedOn = this.source.cached('Service', key)?.metadata.resourceVersion;
    let current = this.current(key);
    const maxRetries = this.options.maxConflictRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        if (!current) {
          if (this.source.cached('Namespace', ns)?.metadata.deletionTimestamp) {
            report.skipped++; // nothing can be created in a namespace being deleted
            return;
          }
          const created = await this.source.client.request<KubeObject>('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/services`, { body: desired, query: { fieldManager: 'portico' } });
          this.written.set(key, { basedOn, object: created });
          this.reported.delete(`403 ${key}`);
          report.created++;
          this.log(`portico: created Service ${key} for Gateway ${ns}/${(desired.metadata.ownerReferences as { name: string }[])[0].name}`);
          return;
        }
        if (!isGenerated(current, this.options.controllerName)) {
          report.skipped++;
          if (!this.reported.has(key)) {
            this.reported.add(key);
            this.log(`portico: Service ${key} exists and was not generated by Portico (${this.options.controllerName}); it is left alone, and Gateway ${ns}/${(desired.metadata.ownerReferences as { name: string }[])[0].name} gets no generated Service`);
          }
          return;
        }
        this.reported.delete(key);
        const merged = mergeService(current, desired);
        if (!merged) {
          report.unchanged++;
          return;
        }
        const updated = await this.source.client.request<KubeObject>('PUT', servicePath(key), { body: merged, query: { fieldManager: 'portico' } });
        this.written.set(key, { basedOn, object: updated });
        this.reported.delete(`403 ${key}`);
        report.updated++;
        return;
      } catch (err) {
        // 409: AlreadyExists on create, or Conflict (our copy was outdated): read and decide again.
        if (err instanceof KubeApiError && err.status === 409 && attempt < maxRetries) {
          try {
            current = await this.read(key);
            continue;
          } catch (readErr) {
            return this.failed(report, `Service ${key} not written: ${(readErr as Error).message}`);
          }
        }
        if (err instanceof KubeApiError && err.status === 404) {
          // Updated while being deleted: the next pass (its deletion changes the snapshot) creates it.
          report.skipped++;
          return;
        }
        if (this.forbidden(err, key, report)) return;
        return this.failed(report, `Service ${key} not written: ${(err as Error).message}`);
      }
    }
  }

  private async delete(key: string, service: KubeObject, report: ServicesReport): Promise<void> {
    try {
      // The uid precondition: never a Service created under the same name since we looked.
      await this.source.client.request('DELETE', servicePath(key), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: service.metadata.uid } },
      });
      report.deleted++;
      this.log(`portico: deleted Service ${key}: its Gateway is gone, not accepted, or not Portico's`);
    } catch (err) {
      if (this.forbidden(err, key, report)) return;
      if (!(err instanceof KubeApiError && (err.status === 404 || err.status === 409))) return this.failed(report, `Service ${key} not deleted: ${(err as Error).message}`);
      report.skipped++;
    }
    this.written.set(key, { basedOn: service.metadata.resourceVersion, object: null });
  }

  private async read(key: string): Promise<KubeObject | undefined> {
    try {
      return await this.source.client.request<KubeObject>('GET', servicePath(key));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * 403: without the right (an older ClusterRole), or in a namespace being deleted. Said once per
   * Service and not retried on a timer (it would only repeat); the next translation tries again.
   */
  private forbidden(err: unknown, key: string, report: ServicesReport): boolean {
    if (!(err instanceof KubeApiError && err.status === 403)) return false;
    report.skipped++;
    if (!this.reported.has(`403 ${key}`)) {
      this.reported.add(`403 ${key}`);
      this.log(`portico: Service ${key}: ${err.message}; grant create/update/patch/delete on services (deploy/10-rbac.yaml), or start with --gateway-service-type None`);
    }
    return true;
  }

  private failed(report: ServicesReport, message: string): void {
    report.failed++;
    this.log(`portico: ${message}`);
  }
}

function servicePath(key: string): string {
  const [ns, name] = key.split('/');
  return `/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`;
}
