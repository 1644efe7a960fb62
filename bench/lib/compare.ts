// Side-by-side measurement: every target once per round, rounds interleaved (so a noisy neighbour
// hurts everyone alike), the proxy process's CPU read from /proc around each load run, medians
// over the rounds, and the table that puts each target next to a baseline (usually nginx).
import { cpuSeconds } from './proc.ts';
import { fmt, median, table } from './stats.ts';
import type { LoadResult } from './wrk.ts';
import type { Running, Target } from './targets.ts';

export interface Figure {
  target: Target;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Proxy process CPU (user + system) per request; NaN without a proxy process. */
  cpuUsPerReq: number;
  errors: number;
}

/**
 * Runs `load` against every target, `rounds` times, interleaved; with `warmup`, one short
 * unmeasured run per target first (JIT, pools, TLS session caches of the proxies).
 */
export async function interleaved(running: Running[], rounds: number, load: (r: Running, warm: boolean) => Promise<LoadResult>, warmup = true): Promise<Figure[]> {
  const samples = new Map<Target, { load: LoadResult; cpu: number }[]>(running.map((r) => [r.target, []]));
  if (warmup) for (const r of running) await load(r, true);
  for (let round = 0; round < rounds; round++) {
    for (const r of running) {
      const pid = r.proc?.child.pid;
      const before = pid ? cpuSeconds(pid) : undefined;
      const result = await load(r, false);
      const after = pid ? cpuSeconds(pid) : undefined;
      const cpu = before && after ? after.user + after.system - before.user - before.system : NaN;
      samples.get(r.target)!.push({ load: result, cpu });
    }
  }
  return running.map(({ target }) => {
    const s = samples.get(target)!;
    return {
      target,
      rps: median(s.map((x) => x.load.rps)),
      p50Ms: median(s.map((x) => x.load.p50Ms)),
      p99Ms: median(s.map((x) => x.load.p99Ms)),
      cpuUsPerReq: median(s.map((x) => (x.cpu / Math.max(1, x.load.requests)) * 1e6)),
      errors: s.reduce((a, x) => a + x.load.errors, 0),
    };
  });
}

/** `a.field / b.field` between two targets of one table (undefined when either is missing). */
export function ratio(figures: Figure[], a: Target, b: Target, field: 'rps' | 'cpuUsPerReq'): number | undefined {
  const fa = figures.find((f) => f.target === a);
  const fb = figures.find((f) => f.target === b);
  if (!fa || !fb || !Number.isFinite(fa[field]) || !Number.isFinite(fb[field]) || fb[field] === 0) return undefined;
  return fa[field] / fb[field];
}

/** Portico's ratios against a baseline, higher is better: rps ratio and CPU efficiency. */
export function porticoRatios(figures: Figure[], prefix: string, baseline: Target = 'nginx'): Record<string, number> {
  const out: Record<string, number> = {};
  const rps = ratio(figures, 'portico', baseline, 'rps');
  const cpu = ratio(figures, baseline, 'portico', 'cpuUsPerReq');
  if (rps !== undefined) out[`${prefix}.rps_vs_${baseline}`] = rps;
  if (cpu !== undefined) out[`${prefix}.cpu_efficiency_vs_${baseline}`] = cpu;
  return out;
}

/** The load table: one row per target, rates and CPU next to the baseline's. */
export function figureTable(figures: Figure[], opts: { baseline?: Target; rateLabel?: string; unit?: string; latency?: 'percentiles' | 'mean-max' | 'none' } = {}): string {
  const base = figures.find((f) => f.target === (opts.baseline ?? 'nginx'));
  const b = opts.baseline ?? 'nginx';
  const latency = opts.latency ?? 'percentiles';
  const lat = latency === 'none' ? [] : latency === 'mean-max' ? ['mean ms', 'max ms'] : ['p50 ms', 'p99 ms'];
  return table(
    ['target', opts.rateLabel ?? 'req/s', `× ${b}`, ...lat, `CPU µs/${opts.unit ?? 'req'}`, `CPU × ${b}`, 'errors'],
    figures.map((f) => [
      f.target, fmt(f.rps), base ? fmt(f.rps / base.rps, 2) : '–', ...(latency === 'none' ? [] : [fmt(f.p50Ms, 2), fmt(f.p99Ms, 2)]),
      fmt(f.cpuUsPerReq), base ? fmt(f.cpuUsPerReq / base.cpuUsPerReq, 2) : '–', f.errors,
    ]),
  );
}
