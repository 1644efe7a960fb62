// HTTP/1.1 keep-alive proxy benchmark: direct, Portico, nginx, HAProxy, http-proxy and
// @fastify/http-proxy, side by side in one run, rounds interleaved, medians reported.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, freePort, start, waitForPort, type Started } from './lib/proc.ts';
import { wrk, type LoadResult } from './lib/wrk.ts';
import { median, fmt, table } from './lib/stats.ts';
import { nginxConf, haproxyCfg } from './proxies/configs.ts';
import { backend as backendObjects, gateway, gatewayClass, route } from './lib/manifests.ts';
import { stringify } from 'yaml';

const NODE = process.execPath;
const ROOT = new URL('..', import.meta.url).pathname;

export type Target = 'direct' | 'portico' | 'nginx' | 'haproxy' | 'http-proxy' | 'fastify';
export const ALL_TARGETS: Target[] = ['direct', 'portico', 'nginx', 'haproxy', 'http-proxy', 'fastify'];

interface Running { port: number; proc?: Started }

async function startTarget(t: Target, backendPort: number, cpus: string | undefined, dir: string): Promise<Running> {
  if (t === 'direct') return { port: backendPort };
  const port = await freePort();
  let proc: Started;
  switch (t) {
    case 'portico': {
      const mdir = join(dir, `portico-${port}`);
      mkdirSync(mdir, { recursive: true });
      const objs = [gatewayClass(), gateway(0, port), ...backendObjects('bench', backendPort), route(0, 'bench', 'gw-0', 'bench.local')];
      // Route everything: the benchmark measures the proxy path, not match selectivity.
      (objs[objs.length - 1] as any).spec = { parentRefs: [{ name: 'gw-0', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'backend', port: 80 }] }] };
      writeFileSync(join(mdir, 'all.yaml'), objs.map((o) => stringify(o)).join('---\n'));
      const admin = await freePort();
      proc = start(NODE, [join(ROOT, 'src/cli/main.ts'), 'run', '-f', mdir, '--admin-address', `127.0.0.1:${admin}`, '--bind-address', '127.0.0.1', '--no-access-log', '--workers', '0'], { cpus });
      await waitForReady(admin);
      break;
    }
    case 'nginx': {
      const ndir = mkdtempSync(join(dir, 'nginx-'));
      writeFileSync(join(ndir, 'nginx.conf'), nginxConf({ listenPort: port, backendPort, dir: ndir }));
      proc = start('nginx', ['-c', join(ndir, 'nginx.conf'), '-p', ndir], { cpus });
      break;
    }
    case 'haproxy': {
      const f = join(dir, `haproxy-${port}.cfg`);
      writeFileSync(f, haproxyCfg({ listenPort: port, backendPort }));
      proc = start('haproxy', ['-f', f, '-db'], { cpus });
      break;
    }
    case 'http-proxy':
      proc = start(NODE, [join(ROOT, 'bench/proxies/http-proxy.ts'), String(port), String(backendPort)], { cpus });
      break;
    case 'fastify':
      proc = start(NODE, [join(ROOT, 'bench/proxies/fastify-proxy.ts'), String(port), String(backendPort)], { cpus });
      break;
  }
  await waitForPort(port);
  return { port, proc };
}

export async function waitForReady(adminPort: number, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      if (r.status === 200) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`portico not ready after ${timeoutMs} ms`);
}

export interface HttpCase { connections: number; path: '/small' | '/4k'; pinned: boolean }
export interface HttpFigure { target: Target; rps: number; p50Ms: number; p99Ms: number; cpuUsPerReq: number; errors: number }

export async function runHttp(opts: { cases: HttpCase[]; targets: Target[]; rounds: number; seconds: number }): Promise<{ c: HttpCase; figures: HttpFigure[] }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  const out: { c: HttpCase; figures: HttpFigure[] }[] = [];
  for (const c of opts.cases) {
    // Pinned layout: the proxy alone on CPU 0; backend and load generator on CPU 1.
    const proxyCpus = c.pinned ? '0' : undefined;
    const otherCpus = c.pinned ? '1' : undefined;
    const backendPort = await freePort();
    const be = start(NODE, [join(ROOT, 'bench/backend.ts'), String(backendPort)], { cpus: otherCpus });
    await waitForPort(backendPort);
    const samples = new Map<Target, { load: LoadResult; cpu: number }[]>();
    const running = new Map<Target, Running>();
    try {
      for (const t of opts.targets) running.set(t, await startTarget(t, backendPort, proxyCpus, dir));
      // Warm up every target once (JIT, pools), then interleave rounds.
      for (const t of opts.targets) await wrk(`http://127.0.0.1:${running.get(t)!.port}${c.path}`, { connections: c.connections, seconds: 1, cpus: otherCpus });
      for (let round = 0; round < opts.rounds; round++) {
        for (const t of opts.targets) {
          const r = running.get(t)!;
          const pid = r.proc?.child.pid;
          const before = pid ? cpuSeconds(pid) : { user: 0, system: 0 };
          const load = await wrk(`http://127.0.0.1:${r.port}${c.path}`, { connections: c.connections, seconds: opts.seconds, cpus: otherCpus });
          const after = pid ? cpuSeconds(pid) : { user: 0, system: 0 };
          const cpu = after.user + after.system - before.user - before.system;
          const list = samples.get(t) ?? [];
          list.push({ load, cpu });
          samples.set(t, list);
        }
      }
    } finally {
      for (const r of running.values()) await r.proc?.stop();
      await be.stop();
    }
    out.push({
      c,
      figures: opts.targets.map((t) => {
        const s = samples.get(t) ?? [];
        return {
          target: t,
          rps: median(s.map((x) => x.load.rps)),
          p50Ms: median(s.map((x) => x.load.p50Ms)),
          p99Ms: median(s.map((x) => x.load.p99Ms)),
          cpuUsPerReq: t === 'direct' ? NaN : median(s.map((x) => (x.cpu / Math.max(1, x.load.requests)) * 1e6)),
          errors: s.reduce((a, x) => a + x.load.errors, 0),
        };
      }),
    });
  }
  return out;
}

export function printHttp(results: { c: HttpCase; figures: HttpFigure[] }[]): string {
  const parts: string[] = [];
  for (const { c, figures } of results) {
    const nginx = figures.find((f) => f.target === 'nginx');
    parts.push(`\n### HTTP/1.1 keep-alive, ${c.connections} connections, ${c.path === '/small' ? '2 B' : '4 KiB'} responses, ${c.pinned ? 'proxy pinned to one core' : 'unpinned'}\n`);
    parts.push(table(
      ['target', 'req/s', '× nginx', 'p50 ms', 'p99 ms', 'CPU µs/req', 'CPU × nginx', 'errors'],
      figures.map((f) => [
        f.target, fmt(f.rps), nginx ? fmt(f.rps / nginx.rps, 2) : '–', fmt(f.p50Ms, 2), fmt(f.p99Ms, 2),
        fmt(f.cpuUsPerReq), nginx && f.target !== 'direct' ? fmt(f.cpuUsPerReq / nginx.cpuUsPerReq, 2) : '–', f.errors,
      ]),
    ));
  }
  return parts.join('\n');
}
