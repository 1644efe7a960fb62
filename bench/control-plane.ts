// Control plane at scale, in file mode: N HTTPRoutes over namespaces and Gateways; time from
// start to ready, resident memory at rest, and route propagation (a new HTTPRoute file written →
// the first 200 answered through the data plane), p50 and p99 over many changes. The Kubernetes
// mode variant is bench/control-plane-k8s.ts; both print in one table.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, rssBytes, waitForPort } from './lib/proc.ts';
import { routeHost, scaleManifests, route } from './lib/manifests.ts';
import { fmt, median, percentile, table } from './lib/stats.ts';
import { explainPortico, freePortRange, probe, spawnPortico, startHttpBackend, waitForReady } from './lib/targets.ts';

export interface ControlPlaneFigure {
  /** `kubernetes at rest`: one change at a time, each after the previous one's status writes settled. */
  mode: 'files' | 'kubernetes' | 'kubernetes at rest';
  routes: number;
  readyMs: number;
  /** Start → every route Accepted in status (Kubernetes mode: written to the API server). */
  acceptedMs?: number;
  /** Start → the last route of the initial set answering through the data plane (is /readyz honest?). */
  lastRouteMs: number;
  rssMB: number;
  propagationP50Ms: number;
  propagationP99Ms: number;
  changes: number;
}

/**
 * Starts Portico as `portico run` (bin/portico.js) does: with Node's module compile cache, so
 * that start-up times are those of a second start, not of type-stripping every module again.
 */
export function spawnPorticoCached(...args: Parameters<typeof spawnPortico>): ReturnType<typeof spawnPortico> {
  const before = process.env.NODE_COMPILE_CACHE;
  process.env.NODE_COMPILE_CACHE = before ?? join(tmpdir(), 'node-compile-cache');
  try {
    return spawnPortico(...args);
  } finally {
    if (before === undefined) delete process.env.NODE_COMPILE_CACHE;
  }
}

/** Polls `ok` until it holds (no pause: each poll is a request), or throws after `timeoutMs`. */
export async function until(ok: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms`);
  }
}

/**
 * Milliseconds from each change to its route answering as expected (polled), over `changes`
 * changes; `restMs` > 0 waits that long before each change, so that it meets a quiet system.
 */
export async function propagation(changes: number, change: (i: number) => unknown, live: (i: number) => Promise<boolean>, timeoutMs = 10000, restMs = 0): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < changes; i++) {
    if (restMs > 0) await new Promise((r) => setTimeout(r, restMs));
    const w0 = performance.now();
    await change(i);
    await until(() => live(i), timeoutMs, `change ${i} live`);
    times.push(performance.now() - w0);
  }
  return { p50: median(times), p99: percentile(times, 99) };
}

export async function runControlPlane(routes: number, changes: number): Promise<ControlPlaneFigure> {
  const dir = mkdtempSync(join(tmpdir(), `portico-cp-${routes}-`));
  const be = await startHttpBackend();
  const backendPort = be.port;
  const gateways = Math.min(50, Math.max(1, Math.floor(routes / 100)));
  const basePort = await freePortRange(gateways);
  for (const [name, text] of scaleManifests({ routes, namespaces: Math.max(1, Math.floor(routes / 10)), gateways, basePort, backendPort })) writeFileSync(join(dir, name), text);
  const admin = await freePort();
  const t0 = performance.now();
  const log = join(dir, 'portico.log');
  const portico = spawnPorticoCached(dir, admin, undefined, log);
  try {
    await waitForReady(admin, 600_000);
    const readyMs = performance.now() - t0;
    const last = routes - 1;
    const lastPort = basePort + (last % gateways);
    await waitForPort(lastPort);
    await until(async () => (await probe(lastPort, routeHost(last), `/r${last}`)) === 200, 600_000, `route ${last} answering`);
    const lastRouteMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    const rssMB = rssBytes(portico.child.pid!) / 1048576;
    await waitForPort(basePort);
    const host = (i: number) => `new-${i}.example.com`;
    const p = await propagation(changes,
      (i) => writeFileSync(join(dir, `new-${i}.yaml`), stringify(route(1_000_000 + i, 'ns-0', 'gw-0', host(i)))),
      async (i) => (await probe(basePort, host(i), `/r${1_000_000 + i}`)) === 200);
    return { mode: 'files', routes, readyMs, lastRouteMs, rssMB, propagationP50Ms: p.p50, propagationP99Ms: p.p99, changes };
  } catch (e) {
    throw await explainPortico(e, admin, log);
  } finally {
    await portico.stop();
    await be.stop();
  }
}

export function printControlPlane(figs: ControlPlaneFigure[], notes: string[] = []): string {
  return '\n### Control plane at scale (propagation: a new HTTPRoute → its first answer through the data plane)\n\n' + table(
    ['mode', 'routes', 'start → ready ms', 'start → last route answers ms', 'start → all Accepted ms', 'RSS MB at rest', 'propagation p50 ms', 'propagation p99 ms', 'changes'],
    figs.map((f) => [f.mode, f.routes, fmt(f.readyMs), fmt(f.lastRouteMs), fmt(f.acceptedMs ?? NaN), fmt(f.rssMB), fmt(f.propagationP50Ms, 2), fmt(f.propagationP99Ms, 2), f.changes]),
  ) + notes.map((n) => `\n\n${n}`).join('');
}
