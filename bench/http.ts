// HTTP/1.1 keep-alive proxy benchmark: direct, Portico, nginx, HAProxy, http-proxy and
// @fastify/http-proxy, side by side in one run, rounds interleaved, medians reported.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrk } from './lib/wrk.ts';
import { figureTable, interleaved, type Figure } from './lib/compare.ts';
import { startHttpBackend, startTargets, stopAll, type Target } from './lib/targets.ts';

export const ALL_TARGETS: Target[] = ['direct', 'portico', 'nginx', 'haproxy', 'http-proxy', 'fastify'];

/** `allCores` (unpinned only): every proxy uses every core (Portico's workers, nginx workers, HAProxy threads). */
export interface HttpCase { connections: number; path: '/small' | '/4k'; pinned: boolean; allCores?: boolean }

export async function runHttp(opts: { cases: HttpCase[]; targets: Target[]; rounds: number; seconds: number }): Promise<{ c: HttpCase; figures: Figure[] }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  const out: { c: HttpCase; figures: Figure[] }[] = [];
  for (const c of opts.cases) {
    // Pinned layout: the proxy alone on CPU 0; backend and load generator on CPU 1.
    const proxyCpus = c.pinned ? '0' : undefined;
    const otherCpus = c.pinned ? '1' : undefined;
    const be = await startHttpBackend(otherCpus);
    const running = await startTargets(opts.targets, { frontend: 'http', backendPort: be.port, dir, cpus: proxyCpus, allCores: c.allCores });
    try {
      const figures = await interleaved(running, opts.rounds, (r, warm) =>
        wrk(`http://127.0.0.1:${r.port}${c.path}`, { connections: c.connections, seconds: warm ? 1 : opts.seconds, cpus: otherCpus }));
      out.push({ c, figures });
    } finally {
      await stopAll(running);
      await be.stop();
    }
  }
  return out;
}

export function printHttp(results: { c: HttpCase; figures: Figure[] }[]): string {
  return results.map(({ c, figures }) =>
    `\n### HTTP/1.1 keep-alive, ${c.connections} connections, ${c.path === '/small' ? '2 B' : '4 KiB'} responses, ${c.pinned ? 'proxy pinned to one core' : c.allCores ? 'unpinned, every proxy on every core (Portico workers, nginx workers, HAProxy threads)' : 'unpinned'}\n\n` + figureTable(figures),
  ).join('\n');
}
