// The write loop the leader's writers share (status-writer.ts, infrastructure.ts): one pass at a
// time over the latest input, and a retry with backoff after a pass that reports failures.

/**
 * Runs `pass` on the latest input, one pass at a time: inputs that arrive during a pass are taken
 * once it ends (only the latest). A pass that reports failures (API server unreachable, 5xx) runs
 * again with backoff (1 s → 30 s) even if nothing else changes, so an outage never leaves the
 * cluster stale. A pass that throws is logged and counted as one failure: a bug here must not take
 * the process, and its traffic, down.
 */
export class LatestRunner<T, R extends { failed: number }> {
  private readonly pass: (input: T) => Promise<R>;
  private readonly crashed: (err: Error) => R;
  private latest: T | undefined;
  private pending = false;
  private loop: Promise<void> | undefined;
  private lastReport: R;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryDelayMs = 1_000;
  private stopped = false;

  /** `crashed` logs a pass that threw and returns its report; `initial` is the report before any pass. */
  constructor(pass: (input: T) => Promise<R>, crashed: (err: Error) => R, initial: R) {
    this.pass = pass;
    this.crashed = crashed;
    this.lastReport = initial;
  }

  /** Queues an input; resolves once it (or a newer one) has been through a pass. */
  run(input: T): Promise<R> {
    this.latest = input;
    return this.kick();
  }

  /** Runs the latest input again (e.g. when this replica becomes leader). */
  rerun(): Promise<R> {
    return this.latest !== undefined ? this.kick() : Promise.resolve(this.lastReport);
  }

  /** Resolves when no pass is in progress. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  /** Stops retrying (runs can still be queued; a pass in progress finishes). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private kick(): Promise<R> {
    this.pending = true;
    this.loop ??= (async () => {
      try {
        while (this.pending) {
          this.pending = false;
          try {
            this.lastReport = await this.pass(this.latest as T);
          } catch (err) {
            this.lastReport = this.crashed(err as Error);
          }
        }
      } finally {
        this.loop = undefined;
      }
      this.scheduleRetry();
    })();
    return this.loop.then(() => this.lastReport);
  }

  private scheduleRetry(): void {
    if (this.lastReport.failed === 0) {
      this.retryDelayMs = 1_000;
      return;
    }
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.kick();
    }, this.retryDelayMs);
    this.retryTimer.unref?.();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 30_000);
  }
}
