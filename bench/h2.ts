// HTTP/2 in front, HTTP/1.1 keep-alive to the backend: h2load over TLS 1.3 (h2 by ALPN) and
// cleartext h2c (prior knowledge), Portico next to nginx and HAProxy, requests/s and the proxy
// process's CPU per request (from /proc). h2load prints no percentiles: latency columns are its
// mean and max time per request.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { h2load } from './lib/wrk.ts';
import { figureTable, interleaved, porticoRatios, type Figure } from './lib/compare.ts';
import { benchCert, startHttpBackend, startTargets, stopAll, type Target } from './lib/targets.ts';

export type H2Mode = 'h2' | 'h2c';
export interface H2Result { mode: H2Mode; figures: Figure[]; connections: number; streams: number }

export async function runH2(opts: { modes: H2Mode[]; targets: Target[]; rounds: number; seconds: number; connections?: number; streams?: number }): Promise<H2Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-h2-'));
  const connections = opts.connections ?? 10;
  const streams = opts.streams ?? 20;
  const tls = await benchCert(dir);
  const be = await startHttpBackend();
  const out: H2Result[] = [];
  try {
    for (const mode of opts.modes) {
      const running = await startTargets(opts.targets.filter((t) => t !== 'direct'), { frontend: mode === 'h2' ? 'https' : 'h2c', backendPort: be.port, dir, tls });
      try {
        const scheme = mode === 'h2' ? 'https' : 'http';
        const figures = await interleaved(running, opts.rounds, (r, warm) =>
          h2load(`${scheme}://127.0.0.1:${r.port}/small`, { connections, streams, seconds: warm ? 1 : opts.seconds }));
        out.push({ mode, figures, connections, streams });
      } finally {
        await stopAll(running);
      }
    }
  } finally {
    await be.stop();
  }
  return out;
}

export function h2Ratios(results: H2Result[]): Record<string, number> {
  return Object.assign({}, ...results.map((r) => porticoRatios(r.figures, r.mode)));
}

export function printH2(results: H2Result[]): string {
  return results.map((r) =>
    `\n### HTTP/2 ${r.mode === 'h2' ? 'over TLS 1.3 (h2, ALPN)' : 'cleartext (h2c, prior knowledge)'}, h2load ${r.connections} connections × ${r.streams} streams, 2 B responses, HTTP/1.1 upstream\n\n` +
    figureTable(r.figures, { latency: 'mean-max' }),
  ).join('\n');
}
