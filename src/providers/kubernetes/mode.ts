// Kubernetes mode of `portico run`: the provider (informers → snapshots), leader election, the
// status writer and the generated Gateway Services (infrastructure.ts), wired together. The run loop stays the same as in file mode; it only has to
// tell us when its (Programmed-gated) statuses may have changed: after a translation and after
// the data plane acknowledged a generation.
import type { Condition, KubeObject } from '../../api/meta.ts';
import { CONTROLLER_NAME } from '../../api/meta.ts';
import type { OwnedStatus } from '../../translate/index.ts';
import { markUnassigned } from '../../status/programmed.ts';
import { KubernetesProvider } from './index.ts';
import type { KubernetesProviderOptions } from './index.ts';
import { LeaderElector } from './leader.ts';
import type { LeaderElectorOptions } from './leader.ts';
import { StatusWriter } from './status-writer.ts';
import type { WriteReport } from './status-writer.ts';
import { DEFAULT_SERVICE_SELECTOR, GatewayServices, parseSelector } from './infrastructure.ts';
import type { GatewayServiceSettings } from './infrastructure.ts';

// Moved to status/programmed.ts (with the ListenerSets' ParentNotProgrammed); kept importable here.
export { markAddressNotAssigned } from '../../status/programmed.ts';

export interface KubernetesModeOptions extends KubernetesProviderOptions {
  /** The statuses to write: the latest translation, Programmed gated on what is live. */
  statuses: () => OwnedStatus[];
  /** Lease settings; namespace defaults to the kubeconfig context's (in a pod: the pod's). */
  lease?: Partial<LeaderElectorOptions>;
  /** Quiet period before statuses are written after a change (ms, default 20). */
  statusDebounceMs?: number;
  /** How long a write waits for the data plane to ack a new generation (ms, default 2000). */
  maxPendingMs?: number;
  /** Clock for conditions this module sets (tests). */
  now?: () => string;
  /**
   * The Service generated per accepted Gateway (infrastructure.ts); default ClusterIP selecting
   * app.kubernetes.io/name=portico; false: none generated (and none deleted).
   */
  gatewayServices?: Partial<GatewayServiceSettings> | false;
}

export class KubernetesMode {
  readonly provider: KubernetesProvider;
  readonly leader: LeaderElector;
  readonly writer: StatusWriter;
  /** Generates the Gateways' Services (unset when disabled). */
  readonly services: GatewayServices | undefined;
  private readonly options: KubernetesModeOptions;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private lastWrite: Promise<WriteReport> | undefined;
  private lastServices: Promise<unknown> | undefined;
  private pendingSince: number | undefined;
  private readonly log: (line: string) => void;

  constructor(options: KubernetesModeOptions) {
    this.options = options;
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    this.log = log;
    this.provider = new KubernetesProvider({ ...options, log });
    this.leader = new LeaderElector(this.provider.client, {
      namespace: this.provider.client.connection.namespace,
      log,
      ...options.lease,
      onStartedLeading: () => {
        options.lease?.onStartedLeading?.();
        // A new leader writes what it has: the previous one may have died mid-way.
        this.statusChanged();
      },
    });
    this.writer = new StatusWriter(this.provider, {
      controllerName: options.controllerName ?? CONTROLLER_NAME,
      isLeader: () => this.leader.isLeader,
      log,
    });
    if (options.gatewayServices !== false) {
      this.services = new GatewayServices(this.provider, {
        type: options.gatewayServices?.type ?? 'ClusterIP',
        selector: options.gatewayServices?.selector ?? parseSelector(DEFAULT_SERVICE_SELECTOR),
        controllerName: options.controllerName ?? CONTROLLER_NAME,
        isLeader: () => this.leader.isLeader,
        log,
      });
    }
  }

  /** Starts campaigning for leadership; the provider starts with its first reload(). */
  start(): void {
    this.leader.start();
  }

  /**
   * Call when the run loop's statuses may have changed; writes them shortly after (if leader).
   * Right after a translation, Gateways read Programmed=False/Pending until the data plane acks
   * the new generation, normally within milliseconds. Writing that transient state would make
   * Programmed flap in the cluster on every route change, so while statuses show the data plane
   * pending, the write waits (up to maxPendingMs) for the ack's own notification.
   */
  statusChanged(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(true), this.options.statusDebounceMs ?? 20);
  }

  /** `changed`: first call after a change (not a re-check while the data plane is pending). */
  private flush(changed = false): void {
    if (this.closed || this.provider.snapshot().generation === 0) return; // informers not synced yet
    let statuses: OwnedStatus[];
    try {
      statuses = this.currentStatuses();
    } catch (err) {
      // Defensive: a timer callback that throws would end the process, and its traffic with it.
      this.log(`portico: computing status failed: ${(err as Error).message}`);
      return;
    }
    // Generated Services follow Accepted, which does not wait for the data plane.
    if (changed && this.services) this.lastServices = this.services.reconcile(statuses);
    if (statuses.some(awaitingDataPlane)) {
      this.pendingSince ??= Date.now();
      if (Date.now() - this.pendingSince < (this.options.maxPendingMs ?? 2_000)) {
        this.timer = setTimeout(() => this.flush(), 100);
        return;
      }
    }
    this.pendingSince = undefined;
    this.lastWrite = this.writer.write(statuses);
    this.lastWrite.catch(() => {}); // never rejects (the writer logs), but never crash on it either
  }

  /** Resolves when pending status writes are done (tests). */
  async settled(): Promise<void> {
    await new Promise((r) => setTimeout(r, (this.options.statusDebounceMs ?? 20) + 5));
    await this.lastWrite;
    await this.lastServices;
    await this.writer.idle();
    await this.services?.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.writer.stop();
    this.services?.stop();
    await this.writer.idle();
    await this.services?.idle();
    await this.leader.stop();
    await this.provider.close();
  }

  /**
   * The run loop's statuses, with two adjustments for the cluster: AddressNotAssigned for
   * Gateways the pool had no address for, and Programmed kept True for Gateways and ListenerSets
   * whose generation the data plane already programmed, while it applies a newer configuration
   * that only others caused (see keepProgrammed).
   */
  private currentStatuses(): OwnedStatus[] {
    const now = this.options.now?.() ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const message = `No address left in the address pool ${this.provider.addressPool?.cidr}: give the Gateway spec.addresses, widen --address-pool, or delete a Gateway that holds one of its addresses`;
    const unassigned = new Map([...this.provider.unassignedGateways()].map((key) => [`Gateway/${key}`, message]));
    return markUnassigned(this.options.statuses(), unassigned, now).map((s) => {
      const kind = s.object.kind;
      if (kind !== 'Gateway' && kind !== 'ListenerSet') return s;
      if (!awaitingDataPlane(s)) return s;
      const key = `${s.object.metadata.namespace}/${s.object.metadata.name}`;
      const cluster = this.provider.cached(kind, key);
      return cluster ? { ...s, status: keepProgrammed(s.status, cluster, s.object.metadata.generation) } : s;
    });
  }
}

/**
 * The data plane swaps configurations atomically: while a new one is being applied, the previous
 * one keeps serving. So a Gateway (or ListenerSet) whose own generation was already reported
 * Programmed=True stays so while a change elsewhere (a route, a Service) is applied, instead of
 * flapping to Pending on every change in the cluster. Listener entries likewise, by name. A new
 * generation of the object itself still waits for the data plane (Pending until acked).
 */
export function keepProgrammed(status: Record<string, unknown>, cluster: KubeObject, generation: number | undefined): Record<string, unknown> {
  if (generation === undefined || cluster.metadata.generation !== generation) return status;
  const clusterStatus = (cluster.status ?? {}) as { conditions?: Condition[]; listeners?: { name?: string; conditions?: Condition[] }[] };
  const programmedAt = (conds: Condition[] | undefined) => conds?.find((c) => c.type === 'Programmed' && c.status === 'True' && c.observedGeneration === generation);
  const top = programmedAt(clusterStatus.conditions);
  if (!top) return status;
  const out = structuredClone(status);
  const swap = (conds: unknown, live: Condition): void => {
    if (!Array.isArray(conds)) return;
    const i = conds.findIndex((c: Condition) => c.type === 'Programmed' && c.status === 'False' && c.reason === 'Pending');
    if (i >= 0) conds[i] = { ...live };
  };
  swap(out.conditions, top);
  for (const l of (Array.isArray(out.listeners) ? out.listeners : []) as { name?: string; conditions?: Condition[] }[]) {
    const live = programmedAt(clusterStatus.listeners?.find((x) => x.name === l.name)?.conditions);
    if (live) swap(l.conditions, live);
  }
  return out;
}

/**
 * A Gateway or ListenerSet whose Programmed waits for the data plane's ack: the gating of
 * status/programmed.ts (Pending, "Waiting for the data plane ..."), not a Pending that translate
 * itself reports (that one is written without delay).
 */
function awaitingDataPlane(s: OwnedStatus): boolean {
  if (s.object.kind !== 'Gateway' && s.object.kind !== 'ListenerSet') return false;
  const conditions = (s.status.conditions ?? []) as Condition[];
  return conditions.some((c) => c.type === 'Programmed' && c.status === 'False' && c.reason === 'Pending'
    && c.message.startsWith('Waiting for the data plane'));
}
