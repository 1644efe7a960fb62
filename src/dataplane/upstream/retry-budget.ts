// Retry budgets (XBackendTrafficPolicy retryConstraint, GEP-3388), one per Service the policy
// targets. The spec's model is the one implemented: over the last `budget.interval`, retries may
// make up at most `budget.percent` % of the requests sent to the Service (originals and retries
// alike, each retry of one request counting again), and at least `minRetryRate.count` retries
// per `minRetryRate.interval` are always allowed. Counts live in sliding windows of SLOTS
// buckets, so recording a request is two array writes and only a retry about to be made sums
// the windows. Backends without a policy carry no budget and the handler skips all of this.
import type { IRRetryBudget } from '../../ir/types.ts';

/** Buckets per window: the window slides in steps of a tenth of its length. */
const SLOTS = 10;

/**
 * Events counted over the last `windowMs`, in SLOTS buckets of windowMs / SLOTS each: the total
 * covers the current (partial) bucket and the SLOTS - 1 before it, so an event is forgotten
 * between (SLOTS - 1) / SLOTS and all of windowMs after it happened.
 */
export class SlidingCount {
  readonly slotMs: number;
  private readonly counts = new Float64Array(SLOTS);
  /** Bucket number (time / slotMs) each slot currently holds; -1: never used. */
  private readonly stamps = new Float64Array(SLOTS).fill(-1);

  constructor(windowMs: number) {
    this.slotMs = Math.max(windowMs / SLOTS, 1e-3);
  }

  add(now: number): void {
    const n = Math.floor(now / this.slotMs);
    const i = n % SLOTS;
    if (this.stamps[i] !== n) {
      this.stamps[i] = n;
      this.counts[i] = 0;
    }
    this.counts[i]++;
  }

  total(now: number): number {
    const oldest = Math.floor(now / this.slotMs) - SLOTS;
    let sum = 0;
    for (let i = 0; i < SLOTS; i++) if (this.stamps[i] > oldest) sum += this.counts[i];
    return sum;
  }
}

/** One Service's budget: shared by every backend (port) of it and every generation that uses it. */
export class RetryBudget {
  /** Prometheus labels of the denied-retries series. */
  readonly labels: string;
  percent = 0;
  minCount = 0;
  /** Requests sent (first attempts and retries) over budget.interval. */
  requests!: SlidingCount;
  /** Retries made over budget.interval. */
  retries!: SlidingCount;
  /** Retries made over minRetryRate.interval. */
  recent!: SlidingCount;
  private settings = '';
  /** Retries the budget refused (the client got 503). */
  denied = 0;
  /** Metrics bookkeeping (see Metrics.prune). */
  seq = 0;
  dropped = false;

  constructor(labels: string, cfg: IRRetryBudget) {
    this.labels = labels;
    this.configure(cfg);
  }

  /** New settings from a changed policy; the windows restart only when an interval changed. */
  configure(cfg: IRRetryBudget): void {
    this.percent = cfg.percent;
    this.minCount = cfg.minRetryRate.count;
    const settings = `${cfg.intervalMs}/${cfg.minRetryRate.intervalMs}`;
    if (settings === this.settings) return;
    this.settings = settings;
    this.requests = new SlidingCount(cfg.intervalMs);
    this.retries = new SlidingCount(cfg.intervalMs);
    this.recent = new SlidingCount(cfg.minRetryRate.intervalMs);
  }

  /** A request's first attempt is sent to the Service. */
  request(now: number): void {
    this.requests.add(now);
  }

  /**
   * A retry is about to be made: true when the budget allows it (it is then counted, as a retry
   * and as a request), false when it does not (counted as denied). Allowed while fewer than
   * minRetryRate.count retries were made in the last minRetryRate.interval, or when, with this
   * retry, retries stay within percent % of the requests of the last budget.interval.
   */
  tryRetry(now: number): boolean {
    const allowed = this.recent.total(now) < this.minCount
      || (this.retries.total(now) + 1) * 100 <= this.percent * (this.requests.total(now) + 1);
    if (!allowed) {
      this.denied++;
      return false;
    }
    this.retries.add(now);
    this.recent.add(now);
    this.requests.add(now);
    return true;
  }
}
