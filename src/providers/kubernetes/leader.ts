// Leader election on a coordination.k8s.io/v1 Lease, so that of several replicas (all of which
// serve traffic) only one writes status. Optimistic concurrency on the Lease's resourceVersion
// decides races. The leader renews every renewIntervalMs; a follower takes over once the lease
// has not been renewed for leaseDurationSeconds. A leader that cannot renew for
// renewDeadlineMs stops leading before its lease can expire, so two leaders never overlap for long.
// On a clean stop the leader releases the lease, so a follower takes over at its next retry.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { KubeApiError } from './client.ts';
import type { KubeClient } from './client.ts';

export interface LeaderElectorOptions {
  namespace: string;
  /** Lease name (default "portico-leader"). */
  name?: string;
  /** Default: the host name (the pod name in a cluster) plus a random suffix. */
  identity?: string;
  leaseDurationSeconds?: number;
  renewIntervalMs?: number;
  /** How often a follower checks the lease. */
  retryIntervalMs?: number;
  /** A leader that could not renew for this long steps down (default 2/3 of the lease). */
  renewDeadlineMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  log?: (line: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

export class LeaderElector {
  readonly identity: string;
  private readonly client: KubeClient;
  private readonly o: Required<Pick<LeaderElectorOptions, 'namespace' | 'name' | 'leaseDurationSeconds' | 'renewIntervalMs' | 'retryIntervalMs' | 'renewDeadlineMs'>> & LeaderElectorOptions;
  private leading = false;
  private lastRenew = 0;
  /** The lease record last seen and when we first saw it (local clock), for expiry. */
  private observed: { key: string; at: number } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(client: KubeClient, options: LeaderElectorOptions) {
    this.client = client;
    // 10 s lease, renewed every 2 s, follower checks every second: a follower takes over at most
    // ~11 s after the leader's last renewal (so after its death), which leaves 4 s of the 15 s
    // promised for a loaded machine's delays and the first status write. (A 12 s lease met 15 s
    // with only ~2 s to spare: measured 12 s from the kill to the new leader's first write.)
    // The leader steps down after 2/3 of it (~6.7 s, three failed renewals) without renewing.
    const lease = options.leaseDurationSeconds ?? 10;
    this.o = {
      name: 'portico-leader',
      leaseDurationSeconds: lease,
      renewIntervalMs: 2_000,
      retryIntervalMs: 1_000,
      renewDeadlineMs: Math.round((lease * 1000 * 2) / 3),
      ...options,
    };
    this.identity = options.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.stopped || this.timer || this.running) return;
    this.tick();
  }

  /** Stops campaigning; a leader releases the lease so that a follower takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.leading) {
      this.setLeading(false);
      try {
        const lease = await this.get();
        if (lease && lease.spec.holderIdentity === this.identity) {
          lease.spec = { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()), acquireTime: null };
          await this.put(lease);
        }
      } catch (err) {
        this.o.log?.(`portico: leader election: releasing the lease failed: ${(err as Error).message}`);
      }
    }
  }

  private tick(): void {
    this.running = this.attempt().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.tick();
      }, this.leading ? this.o.renewIntervalMs : this.o.retryIntervalMs);
    });
  }

  private async attempt(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) {
        this.lastRenew = Date.now();
        this.setLeading(true);
      } else {
        this.setLeading(false);
      }
    } catch (err) {
      this.o.log?.(`portico: leader election: ${(err as Error).message}`);
      // Could not reach the API server: keep leading only until the renew deadline.
      if (this.leading && Date.now() - this.lastRenew > this.o.renewDeadlineMs) this.setLeading(false);
    }
  }

  /** One round; true when we hold the lease afterwards. Throws on transport/API errors. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = await this.get();
    if (!lease) {
      try {
        await this.client.request('POST', this.collectionPath(), {
          body: {
            apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
            metadata: { name: this.o.name, namespace: this.o.namespace },
            spec: { holderIdentity: this.identity, leaseDurationSeconds: this.o.leaseDurationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
          },
        });
        return true;
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 409) return false; // another replica created it first
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(lease);
    if (holder === this.identity) {
      lease.spec = { ...spec, renewTime: microTime(now), leaseDurationSeconds: this.o.leaseDurationSeconds };
      return this.putIfCurrent(lease);
    }
    if (holder !== '' && !this.expired(spec, now.getTime())) return false;
    lease.spec = {
      ...spec,
      holderIdentity: this.identity,
      leaseDurationSeconds: this.o.leaseDurationSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
    };
    const ok = await this.putIfCurrent(lease);
    if (ok) this.o.log?.(`portico: leader election: ${this.identity} took the lease ${this.o.namespace}/${this.o.name} from "${holder}"`);
    return ok;
  }

  /** Remembers when (on our clock) the current lease record first appeared. */
  private observe(lease: Lease): void {
    const key = `${lease.spec?.holderIdentity ?? ''}|${lease.spec?.renewTime ?? ''}|${lease.metadata.resourceVersion ?? ''}`;
    if (this.observed?.key !== key) this.observed = { key, at: Date.now() };
  }

  /**
   * Expired when the holder's renewTime is older than the lease duration. A renewTime in the
   * future (the holder's clock ahead of ours) is capped by when we first saw it, so clock skew
   * cannot keep a dead leader's lease alive.
   */
  private expired(spec: LeaseSpec, now: number): boolean {
    const duration = (spec.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
    const renewed = spec.renewTime ? Date.parse(spec.renewTime) : NaN;
    const seen = this.observed?.at ?? now;
    const last = Number.isNaN(renewed) ? seen : Math.min(renewed, seen);
    return now > last + duration;
  }

  private async putIfCurrent(lease: Lease): Promise<boolean> {
    try {
      await this.put(lease);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false; // someone else wrote in between
      throw err;
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.log?.(`portico: leader election: ${this.identity} ${leading ? 'is now the leader' : 'is no longer the leader'}`);
    if (leading) this.o.onStartedLeading?.();
    else this.o.onStoppedLeading?.();
  }

  private async get(): Promise<Lease | undefined> {
    try {
      return await this.client.request<Lease>('GET', `${this.collectionPath()}/${encodeURIComponent(this.o.name)}`, { timeoutMs: 5_000 });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  private put(lease: Lease): Promise<Lease> {
    return this.client.request<Lease>('PUT', `${this.collectionPath()}/${encodeURIComponent(this.o.name)}`, { body: lease, timeoutMs: 5_000 });
  }

  private collectionPath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/leases`;
  }
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
