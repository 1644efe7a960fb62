// Kubernetes mode of `portico run`: the provider (informers → snapshots), leader election, and the
// status writer, wired together. The run loop stays the same as in file mode; it only has to
// tell us when its (Programmed-gated) statuses may have changed: after a translation and after
// the data plane acknowledged a generation.
import type { Condition } from '../../api/meta.ts';
import { CONTROLLER_NAME } from '../../api/meta.ts';
import type { OwnedStatus } from '../../translate/index.ts';
import { KubernetesProvider } from './index.ts';
import type { KubernetesProviderOptions } from './index.ts';
import { LeaderElector } from './leader.ts';
import type { LeaderElectorOptions } from './leader.ts';
import { StatusWriter } from './status-writer.ts';
import type { WriteReport } from './status-writer.ts';

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
}

export class KubernetesMode {
  readonly provider: KubernetesProvider;
  readonly leader: LeaderElector;
  readonly writer: StatusWriter;
  private readonly options: KubernetesModeOptions;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private lastWrite: Promise<WriteReport> | undefined;
  private pendingSince: number | undefined;

  constructor(options: KubernetesModeOptions) {
    this.options = options;
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
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
    this.timer = setTimeout(() => this.flush(), this.options.statusDebounceMs ?? 20);
  }

  private flush(): void {
    if (this.closed || this.provider.snapshot().generation === 0) return; // informers not synced yet
    const statuses = this.currentStatuses();
    if (statuses.some(awaitingDataPlane)) {
      this.pendingSince ??= Date.now();
      if (Date.now() - this.pendingSince < (this.options.maxPendingMs ?? 2_000)) {
        this.timer = setTimeout(() => this.flush(), 100);
        return;
      }
    }
    this.pendingSince = undefined;
    this.lastWrite = this.writer.write(statuses);
  }

  /** Resolves when pending status writes are done (tests). */
  async settled(): Promise<void> {
    await new Promise((r) => setTimeout(r, (this.options.statusDebounceMs ?? 20) + 5));
    await this.lastWrite;
    await this.writer.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.writer.idle();
    await this.leader.stop();
    await this.provider.close();
  }

  /** The run loop's statuses, plus AddressNotAssigned for Gateways the pool had no address for. */
  private currentStatuses(): OwnedStatus[] {
    const unassigned = this.provider.unassignedGateways();
    const statuses = this.options.statuses();
    if (unassigned.size === 0) return statuses;
    const now = this.options.now?.() ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return statuses.map((s) => {
      if (s.object.kind !== 'Gateway' || !unassigned.has(`${s.object.metadata.namespace}/${s.object.metadata.name}`)) return s;
      return { ...s, status: markAddressNotAssigned(s.status, `No address left in the address pool ${this.provider.addressPool?.cidr}`, now) };
    });
  }
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

/** Programmed=False/AddressNotAssigned on a Gateway status (and no addresses reported). */
export function markAddressNotAssigned(status: Record<string, unknown>, message: string, now: string): Record<string, unknown> {
  const out = structuredClone(status);
  const conditions = (Array.isArray(out.conditions) ? out.conditions : []) as Condition[];
  const programmed = conditions.find((c) => c.type === 'Programmed');
  if (programmed) {
    if (programmed.status !== 'False' || programmed.reason !== 'AddressNotAssigned') programmed.lastTransitionTime = now;
    Object.assign(programmed, { status: 'False', reason: 'AddressNotAssigned', message });
  } else {
    conditions.push({ type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', message, lastTransitionTime: now });
  }
  out.conditions = conditions;
  delete out.addresses;
  return out;
}
