// Layer-4 passthrough: TCP (TCPRoute) and TLS passthrough by SNI (TLSRoute), direct vs Portico vs
// HAProxy (`mode tcp`, req_ssl_sni) vs nginx (`stream`, ssl_preread), each proxy its own process
// in front of an echo backend process. The load generator runs in this process:
//   - throughput: `mib` MiB written through `parallel` connections and read back from the echo,
//     in MiB/s of payload one way; CPU column: proxy CPU per MiB;
//   - connections/s: each connection sends one byte, waits for the echo, closes; 50 at a time
//     (for TLS passthrough, each is a full TLS 1.3 handshake with the backend through the proxy).
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { figureTable, interleaved, porticoRatios, type Figure } from './lib/compare.ts';
import { freePort, start, waitForPort } from './lib/proc.ts';
import { benchCert, NODE, ROOT, startTargets, stopAll, type BenchTls, type Target } from './lib/targets.ts';
import type { LoadResult } from './lib/wrk.ts';

export type L4Mode = 'tcp' | 'tls-passthrough';
export interface L4Result { mode: L4Mode; throughput: Figure[]; connRate: Figure[]; mib: number; parallel: number; conns: number }

type Connect = () => net.Socket;

/** Seconds to push `mib` MiB through one connection and read it all back (echo). */
function pushThrough(connect: Connect, mib: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = mib * 1024 * 1024;
    const s = connect();
    let got = 0;
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= total) {
        s.destroy();
        resolve();
      }
    });
    pump();
  });
}

function loadResult(rate: number, units: number, errors: number): LoadResult {
  return { rps: rate, requests: units, p50Ms: NaN, p99Ms: NaN, errors };
}

async function throughput(connect: Connect, mib: number, parallel: number): Promise<LoadResult> {
  const t0 = performance.now();
  try {
    await Promise.all(Array.from({ length: parallel }, () => pushThrough(connect, mib / parallel)));
  } catch {
    return loadResult(NaN, 0, 1);
  }
  return loadResult(mib / ((performance.now() - t0) / 1000), mib, 0);
}

/** Connections per second: each connects, sends one byte, waits for the echo, closes; 50 at a time. */
async function connRate(connect: Connect, n: number): Promise<LoadResult> {
  let next = 0;
  let errors = 0;
  const one = () => new Promise<void>((resolve) => {
    const s = connect();
    s.on('error', () => { errors++; s.destroy(); resolve(); });
    s.once('data', () => { s.end(); resolve(); });
    s.write('x');
  });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (next++ < n) await one();
  }));
  return loadResult((n - errors) / ((performance.now() - t0) / 1000), n, errors);
}

async function startEcho(tlsFiles?: BenchTls): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const be = start(NODE, [join(ROOT, 'bench/backends/echo.ts'), String(port), ...(tlsFiles ? [tlsFiles.cert, tlsFiles.key] : [])]);
  await waitForPort(port);
  return { port, stop: be.stop };
}

export async function runL4(opts: { modes: L4Mode[]; targets: Target[]; rounds: number; mib: number; parallel?: number; conns: number }): Promise<L4Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-l4-'));
  const parallel = opts.parallel ?? 4;
  const cert = await benchCert(dir);
  const out: L4Result[] = [];
  for (const mode of opts.modes) {
    const echo = await startEcho(mode === 'tls-passthrough' ? cert : undefined);
    const running = await startTargets(opts.targets, { frontend: mode, backendPort: echo.port, dir });
    const connect = (port: number): Connect => mode === 'tcp'
      ? () => net.connect(port, '127.0.0.1')
      : () => tls.connect({ port, host: '127.0.0.1', servername: cert.servername, ca: cert.caPem, minVersion: 'TLSv1.3' });
    // Handshakes cost far more than plain connects: fewer of them.
    const conns = mode === 'tcp' ? opts.conns : Math.max(100, Math.floor(opts.conns / 4));
    try {
      const tput = await interleaved(running, opts.rounds, (r, warm) => throughput(connect(r.port), warm ? Math.min(8, opts.mib) : opts.mib, parallel));
      const rate = await interleaved(running, opts.rounds, (r, warm) => connRate(connect(r.port), warm ? 100 : conns));
      out.push({ mode, throughput: tput, connRate: rate, mib: opts.mib, parallel, conns });
    } finally {
      await stopAll(running);
      await echo.stop();
    }
  }
  return out;
}

export function l4Ratios(results: L4Result[]): Record<string, number> {
  return Object.assign({}, ...results.flatMap((r) => [porticoRatios(r.throughput, `${r.mode}.throughput`), porticoRatios(r.connRate, `${r.mode}.connections`)]));
}

export function printL4(results: L4Result[]): string {
  return results.map((r) => {
    const what = r.mode === 'tcp' ? 'TCP passthrough (TCPRoute)' : 'TLS passthrough by SNI (TLSRoute), TLS 1.3 end to end';
    return `\n### ${what}: throughput, ${r.mib} MiB echoed over ${r.parallel} connections\n\n` +
      figureTable(r.throughput, { rateLabel: 'MiB/s', unit: 'MiB', latency: 'none' }) +
      `\n\n### ${what}: new connections/s (connect, 1-byte echo, close; ${r.conns} connections, 50 at a time)\n\n` +
      figureTable(r.connRate, { rateLabel: 'conn/s', unit: 'conn', latency: 'none' });
  }).join('\n');
}
