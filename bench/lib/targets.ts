// Starting the things benchmarks compare: Portico (from generated manifests), nginx, HAProxy and
// the Node.js proxies, each in front of one backend port, and the throwaway TLS certificate they
// share. Every scenario goes through startTarget() so that they all configure a proxy the same way.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCA, makeCert } from '../../test/support/tls-certs.ts';
import { freePort, start, waitForPort, type Started } from './proc.ts';
import { PASSTHROUGH_HOST, singleRoute, toYaml, type BenchFrontend } from './manifests.ts';
import { haproxyCfg, haproxyTcpCfg, nginxConf, nginxStreamConf, NGINX_STREAM_MODULE } from '../proxies/configs.ts';

export const NODE = process.execPath;
export const ROOT = new URL('../..', import.meta.url).pathname;

export type Target = 'direct' | 'portico' | 'nginx' | 'haproxy' | 'http-proxy' | 'fastify';

export interface Running {
  target: Target;
  port: number;
  /** Absent for `direct`: there is no proxy process to measure. */
  proc?: Started;
}

export interface BenchTls {
  certPem: string;
  keyPem: string;
  caPem: string;
  /** Files in the run's temp directory, for nginx and HAProxy. */
  cert: string;
  key: string;
  combined: string;
  servername: string;
}

/** A throwaway ECDSA P-256 certificate for `bench.local`, made with openssl in `dir`. */
export async function benchCert(dir: string): Promise<BenchTls> {
  const servername = PASSTHROUGH_HOST;
  const ca = await makeCA('Portico Bench CA');
  const leaf = await makeCert(ca, { dns: [servername] });
  const files = { cert: join(dir, 'bench.crt'), key: join(dir, 'bench.key'), combined: join(dir, 'bench.pem') };
  writeFileSync(files.cert, leaf.chainPem);
  writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.combined, leaf.chainPem + leaf.keyPem, { mode: 0o600 });
  return { certPem: leaf.chainPem, keyPem: leaf.keyPem, caPem: ca.certPem, servername, ...files };
}

/** Starts the HTTP/1.1 benchmark backend (bench/backends/http.ts) and returns its port and handle. */
export async function startHttpBackend(cpus?: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const be = start(NODE, [join(ROOT, 'bench/backends/http.ts'), String(port)], { cpus });
  await waitForPort(port);
  return { port, stop: be.stop };
}

const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Status code of GET http://127.0.0.1:port/path with a Host header (0 when the connection fails). */
export function probe(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: probeAgent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0));
  });
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

/** Where `portico run` reads its objects: a directory of manifests, or a Kubernetes API server. */
export type PorticoSource = string | { kubeconfig: string; addressPool: string; controllerName: string };

/**
 * `portico run` from files or from Kubernetes, output to `logFile` if given; the in-process data
 * plane (--workers 0) unless `workers` asks for worker processes.
 */
export function spawnPortico(source: PorticoSource, adminPort: number, cpus?: string, logFile?: string, workers = 0): Started {
  const from = typeof source === 'string'
    ? ['-f', source, '--bind-address', '127.0.0.1']
    : ['--kubernetes', '--kubeconfig', source.kubeconfig, '--address-pool', source.addressPool, '--controller-name', source.controllerName];
  return start(NODE, [join(ROOT, 'src/cli/main.ts'), 'run', ...from, '--admin-address', `127.0.0.1:${adminPort}`, '--no-access-log', '--workers', String(workers)], { cpus, logFile });
}

/** An error for a Portico that misbehaved: the original message, its output so far and its status (the first 3,000 characters). */
export async function explainPortico(e: unknown, adminPort: number, logFile: string): Promise<Error> {
  const status = await fetch(`http://127.0.0.1:${adminPort}/status?output=yaml`).then((r) => r.text()).catch(() => '(admin API unreachable)');
  let output = '';
  try { output = readFileSync(logFile, 'utf8').slice(-2000); } catch { /* no output */ }
  return new Error(`${(e as Error).message}; portico output (${logFile}):\n${output}\nstatus:\n${status.slice(0, 3000)}`, { cause: e });
}

/**
 * A first port of `count` consecutive ports for Gateways of scale scenarios: below the ephemeral
 * range (so no outgoing connection holds one) and checked free, since teammates' tests and other
 * runs share the machine.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    const ok = await Promise.all(Array.from({ length: count }, (_, i) => canBind(base + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

let streamModule: boolean | undefined;
/** Whether nginx can load the stream module (nginx-light lacks it; Debian's libnginx-mod-stream adds it). */
export function nginxHasStream(): boolean {
  if (streamModule === undefined) {
    streamModule = existsSync(NGINX_STREAM_MODULE);
    if (!streamModule) {
      try {
        streamModule = /--with-stream(\s|$)/.test(execFileSync('nginx', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
      } catch { streamModule = false; }
    }
  }
  return streamModule;
}

const isL4 = (f: BenchFrontend) => f === 'tcp' || f === 'tls-passthrough';
const sniOf = (f: BenchFrontend) => (f === 'tls-passthrough' ? PASSTHROUGH_HOST : undefined);

export interface TargetOptions {
  frontend: BenchFrontend;
  backendPort: number;
  /** Scratch directory of the run. */
  dir: string;
  cpus?: string;
  tls?: BenchTls;
  /**
   * Use every core: Portico's worker processes, nginx workers and HAProxy threads, one per core.
   * Otherwise each proxy runs one worker (Portico in-process), the per-core comparison.
   */
  allCores?: boolean;
}

/** Which targets can do a frontend (the Node.js baselines only proxy HTTP/1.1; nginx `stream` may be missing). */
export function supports(t: Target, frontend: BenchFrontend): boolean {
  if (t === 'http-proxy' || t === 'fastify') return frontend === 'http';
  if (t === 'nginx' && isL4(frontend)) return nginxHasStream();
  return true;
}

export async function startTarget(t: Target, o: TargetOptions): Promise<Running> {
  if (t === 'direct') return { target: t, port: o.backendPort };
  const port = await freePort();
  const { cpus } = o;
  let proc: Started;
  switch (t) {
    case 'portico': {
      const mdir = mkdtempSync(join(o.dir, 'portico-'));
      writeFileSync(join(mdir, 'all.yaml'), toYaml(singleRoute({ port, backendPort: o.backendPort, frontend: o.frontend, tls: o.tls })));
      const admin = await freePort();
      const log = join(mdir, 'portico.log');
      proc = spawnPortico(mdir, admin, cpus, log, o.allCores ? availableParallelism() : 0);
      try {
        await waitForReady(admin);
      } catch (e) {
        const err = await explainPortico(e, admin, log);
        await proc.stop();
        throw err;
      }
      break;
    }
    case 'nginx': {
      const ndir = mkdtempSync(join(o.dir, 'nginx-'));
      const conf = isL4(o.frontend)
        ? nginxStreamConf({ listenPort: port, backendPort: o.backendPort, dir: ndir, sni: sniOf(o.frontend) }, nginxHasStream())
        : nginxConf({ listenPort: port, backendPort: o.backendPort, dir: ndir, frontend: o.frontend, tls: o.tls, workers: o.allCores ? availableParallelism() : 1 });
      if (!conf) throw new Error('nginx has no stream module');
      writeFileSync(join(ndir, 'nginx.conf'), conf);
      proc = start('nginx', ['-c', join(ndir, 'nginx.conf'), '-p', ndir], { cpus });
      break;
    }
    case 'haproxy': {
      const f = join(o.dir, `haproxy-${port}.cfg`);
      writeFileSync(f, isL4(o.frontend) ? haproxyTcpCfg({ listenPort: port, backendPort: o.backendPort, dir: o.dir, sni: sniOf(o.frontend) }) : haproxyCfg({ listenPort: port, backendPort: o.backendPort, dir: o.dir, frontend: o.frontend, tls: o.tls, workers: o.allCores ? availableParallelism() : 1 }));
      proc = start('haproxy', ['-f', f, '-db'], { cpus });
      break;
    }
    case 'http-proxy':
    case 'fastify':
      proc = start(NODE, [join(ROOT, `bench/proxies/${t === 'fastify' ? 'fastify-proxy' : 'http-proxy'}.ts`), String(port), String(o.backendPort)], { cpus });
      break;
  }
  try {
    await waitForPort(port);
  } catch (e) {
    await proc.stop();
    throw new Error(`${t} did not start (${o.frontend}): ${(e as Error).message}`, { cause: e });
  }
  return { target: t, port, proc };
}

/** Starts every target that supports the frontend; a target that fails to start is reported and left out. */
export async function startTargets(targets: Target[], o: TargetOptions): Promise<Running[]> {
  const out: Running[] = [];
  for (const t of targets) {
    if (!supports(t, o.frontend)) continue;
    try {
      out.push(await startTarget(t, o));
    } catch (e) {
      console.error(`skipping ${t}: ${(e as Error).message}`);
    }
  }
  return out;
}

export async function stopAll(running: Running[]): Promise<void> {
  for (const r of running) await r.proc?.stop();
}
