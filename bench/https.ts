// HTTPS (TLS 1.3 only, one ECDSA P-256 certificate made with openssl for the run, the same file
// for every proxy), HTTP/1.1 to an HTTP/1.1 backend. Two figures, each side by side in one run:
//   - keep-alive requests/s: wrk over https, connections reused;
//   - new connections/s: wrk with "Connection: close", so every request is a new TCP connection
//     and a full TLS 1.3 handshake (wrk makes a new SSL object per connection and never resumes
//     a session), i.e. handshakes per second including one small request each.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wrk } from './lib/wrk.ts';
import { figureTable, interleaved, porticoRatios, type Figure } from './lib/compare.ts';
import { benchCert, startHttpBackend, startTargets, stopAll, type Target } from './lib/targets.ts';

export interface HttpsResult { keepAlive: Figure[]; handshakes: Figure[]; connections: number; seconds: number }

export async function runHttps(opts: { targets: Target[]; rounds: number; seconds: number; connections?: number }): Promise<HttpsResult> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-https-'));
  const connections = opts.connections ?? 50;
  const tls = await benchCert(dir);
  const be = await startHttpBackend();
  const running = await startTargets(opts.targets.filter((t) => t !== 'direct'), { frontend: 'https', backendPort: be.port, dir, tls });
  try {
    const url = (port: number) => `https://127.0.0.1:${port}/small`;
    const seconds = (warm: boolean) => (warm ? 1 : opts.seconds);
    const keepAlive = await interleaved(running, opts.rounds, (r, warm) => wrk(url(r.port), { connections, seconds: seconds(warm) }));
    // The keep-alive runs warmed every proxy up already.
    const handshakes = await interleaved(running, opts.rounds, (r) => wrk(url(r.port), { connections, seconds: opts.seconds, headers: ['Connection: close'] }), false);
    return { keepAlive, handshakes, connections, seconds: opts.seconds };
  } finally {
    await stopAll(running);
    await be.stop();
  }
}

export function httpsRatios(r: HttpsResult): Record<string, number> {
  return { ...porticoRatios(r.keepAlive, 'https.keepalive'), ...porticoRatios(r.handshakes, 'https.handshake') };
}

export function printHttps(r: HttpsResult): string {
  return `\n### HTTPS (TLS 1.3, ECDSA P-256), HTTP/1.1 keep-alive, wrk ${r.connections} connections, 2 B responses\n\n${figureTable(r.keepAlive)}\n` +
    `\n### HTTPS new connections: wrk -H 'Connection: close' (one full TLS 1.3 handshake per request, no resumption), ${r.connections} connections\n\n` +
    figureTable(r.handshakes, { rateLabel: 'handshakes/s' });
}
