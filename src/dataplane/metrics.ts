// Prometheus metrics written by hand: counters and histograms are plain objects looked up once per
// generation at compile time, so a request only bumps numbers in objects it already holds.
import type { IRRetryBudget } from '../ir/types.ts';
import { RetryBudget } from './upstream/retry-budget.ts';

export interface RequestCounter {
  labels: string;
  /** Last apply that used this series (stale series are dropped, see prune). */
  seq: number;
  /** Index: status / 100 (1xx..5xx); 0 unused. */
  counts: number[];
  /** Set when prune() forgot the series (a generation still holding it must look it up again). */
  dropped: boolean;
}

export interface Histogram {
  labels: string;
  seq: number;
  buckets: number[];
  sum: number;
  count: number;
  dropped: boolean;
}

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  private readonly requests = new Map<string, RequestCounter>();
  private readonly requestLatency = new Map<string, Histogram>();
  private readonly upstreamLatency = new Map<string, Histogram>();
  /** Retry budgets by Service ("namespace/name"): state lives across generations, like a series. */
  private readonly retryBudgets = new Map<string, RetryBudget>();
  activeConnections = 0;
  /** The apply being compiled: series looked up now are marked as in use. */
  seq = 0;
  generation = 0;
  reloads = 0;
  reloadErrors = 0;

  counter(gateway: string, listener: string, route: string, rule: string, backend: string): RequestCounter {
    const labels = `gateway="${esc(gateway)}",listener="${esc(listener)}",route="${esc(route)}",rule="${esc(rule)}",backend="${esc(backend)}"`;
    let c = this.requests.get(labels);
    if (c === undefined) {
      c = { labels, counts: [0, 0, 0, 0, 0, 0], seq: 0, dropped: false };
      this.requests.set(labels, c);
    }
    c.seq = this.seq;
    return c;
  }

  /**
   * Marks a counter an earlier generation looked up as in use by this apply. False when the
   * series was dropped or replaced meanwhile: the caller must look it up again.
   */
  reuseCounter(c: RequestCounter): boolean {
    if (c.dropped) return false;
    c.seq = this.seq;
    return true;
  }

  /** As reuseCounter, for an upstream latency histogram. */
  reuseHistogram(h: Histogram): boolean {
    if (h.dropped) return false;
    h.seq = this.seq;
    return true;
  }

  requestHistogram(gateway: string, listener: string): Histogram {
    return histogram(this.requestLatency, `gateway="${esc(gateway)}",listener="${esc(listener)}"`, this.seq);
  }

  upstreamHistogram(backend: string): Histogram {
    return histogram(this.upstreamLatency, `backend="${esc(backend)}"`, this.seq);
  }

  /**
   * The retry budget of a Service (XBackendTrafficPolicy), created on first use and kept across
   * generations (so a reload does not reset the windows), with the policy's current settings.
   */
  retryBudget(service: string, cfg: IRRetryBudget): RetryBudget {
    let b = this.retryBudgets.get(service);
    if (b === undefined) {
      b = new RetryBudget(`service="${esc(service)}"`, cfg);
      this.retryBudgets.set(service, b);
    } else {
      b.configure(cfg);
    }
    b.seq = this.seq;
    return b;
  }

  /** As reuseCounter, for a retry budget. */
  reuseBudget(b: RetryBudget): boolean {
    if (b.dropped) return false;
    b.seq = this.seq;
    return true;
  }

  /**
   * Forgets series no generation has used for `keep` applies (routes and backends that are gone),
   * so a long-lived process with churning configuration keeps a bounded set of series.
   */
  prune(keep: number): void {
    const limit = this.seq - keep;
    for (const map of [this.requests, this.requestLatency, this.upstreamLatency, this.retryBudgets] as Map<string, { seq: number; dropped: boolean }>[]) {
      for (const [k, v] of map) {
        if (v.seq >= limit) continue;
        map.delete(k);
        v.dropped = true;
      }
    }
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP portico_http_requests_total HTTP requests by gateway, listener, route, rule, backend and status class.');
    out.push('# TYPE portico_http_requests_total counter');
    for (const c of this.requests.values()) {
      for (let k = 1; k < 6; k++) if (c.counts[k] > 0) out.push(`portico_http_requests_total{${c.labels},code="${k}xx"} ${c.counts[k]}`);
    }
    renderHistograms(out, 'portico_http_request_duration_seconds', 'Time from request start to response end.', this.requestLatency);
    renderHistograms(out, 'portico_upstream_response_seconds', 'Time from sending a request to a backend to its response headers.', this.upstreamLatency);
    out.push('# HELP portico_retry_budget_denied_total Retries not made because the Service\'s XBackendTrafficPolicy retry budget was spent (the client got 503).');
    out.push('# TYPE portico_retry_budget_denied_total counter');
    for (const b of this.retryBudgets.values()) out.push(`portico_retry_budget_denied_total{${b.labels}} ${b.denied}`);
    out.push('# HELP portico_active_connections Open client connections.', '# TYPE portico_active_connections gauge', `portico_active_connections ${this.activeConnections}`);
    out.push('# HELP portico_config_generation Generation of the live configuration.', '# TYPE portico_config_generation gauge', `portico_config_generation ${this.generation}`);
    out.push('# HELP portico_config_reloads_total Configurations applied.', '# TYPE portico_config_reloads_total counter', `portico_config_reloads_total ${this.reloads}`);
    out.push('# HELP portico_config_reload_errors_total Configurations that failed to apply.', '# TYPE portico_config_reload_errors_total counter', `portico_config_reload_errors_total ${this.reloadErrors}`);
    return out.join('\n') + '\n';
  }
}

export function observe(h: Histogram, seconds: number): void {
  h.sum += seconds;
  h.count++;
  for (let i = 0; i < BOUNDS.length; i++) {
    if (seconds <= BOUNDS[i]) {
      h.buckets[i]++;
      return;
    }
  }
}

function histogram(map: Map<string, Histogram>, labels: string, seq: number): Histogram {
  let h = map.get(labels);
  if (h === undefined) {
    h = { labels, buckets: BOUNDS.map(() => 0), sum: 0, count: 0, seq, dropped: false };
    map.set(labels, h);
  }
  h.seq = seq;
  return h;
}

function renderHistograms(out: string[], name: string, help: string, map: Map<string, Histogram>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  for (const h of map.values()) {
    let cum = 0;
    for (let i = 0; i < BOUNDS.length; i++) {
      cum += h.buckets[i];
      out.push(`${name}_bucket{${h.labels},le="${BOUNDS[i]}"} ${cum}`);
    }
    out.push(`${name}_bucket{${h.labels},le="+Inf"} ${h.count}`, `${name}_sum{${h.labels}} ${h.sum}`, `${name}_count{${h.labels}} ${h.count}`);
  }
}

function esc(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/**
 * How a series that every worker reports once for the whole process merges: the live generation
 * is the oldest any worker runs; reloads and reload errors count configurations, which every
 * worker applies, so the most any worker saw (a replaced worker saw fewer). Everything else adds up.
 */
const PER_PROCESS: Record<string, (a: number, b: number) => number> = {
  portico_config_generation: Math.min,
  portico_config_reloads_total: Math.max,
  portico_config_reload_errors_total: Math.max,
};

/**
 * Merges the text expositions of several workers into one. Lines stay grouped by metric family
 * (the text format wants each family's lines together), families and series in first-seen order.
 */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, { head: string[]; series: Map<string, number> }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { head: [], series: new Map() }));
    return f;
  };
  for (const t of texts) {
    let current = family('');
    for (const line of t.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        // "# HELP name text" or "# TYPE name type"
        current = family(line.split(' ', 3)[2] ?? '');
        if (!current.head.includes(line)) current.head.push(line);
        continue;
      }
      const sp = line.lastIndexOf(' ');
      const series = line.slice(0, sp);
      const v = Number(line.slice(sp + 1));
      const prev = current.series.get(series);
      const merge = PER_PROCESS[series];
      current.series.set(series, prev === undefined ? v : merge ? merge(prev, v) : prev + v);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.head);
    for (const [series, v] of f.series) out.push(`${series} ${v}`);
  }
  return out.join('\n') + '\n';
}
