// Control plane at scale, in file mode: N HTTPRoutes over namespaces and Gateways; time from
// start to ready, resident memory at rest, and route propagation (a new HTTPRoute file written →
// the first 200 answered through the data plane), p50 and p99 over many changes.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, rssBytes, waitForPort } from './lib/proc.ts';
import { scaleManifests, route } from './lib/manifests.ts';
import { fmt, median, percentile, table } from './lib/stats.ts';
import { spawnPortico, startHttpBackend, waitForReady } from './lib/targets.ts';

export interface ControlPlaneFigure { routes: number; readyMs: number; rssMB: number; propagationP50Ms: number; propagationP99Ms: number; changes: number }

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', () => resolve(0));
  });
}

export async function runControlPlane(routes: number, changes: number): Promise<ControlPlaneFigure> {
  const dir = mkdtempSync(join(tmpdir(), `portico-cp-${routes}-`));
  const be = await startHttpBackend();
  const backendPort = be.port;
  const basePort = 20000 + Math.floor(Math.random() * 20000);
  const gateways = Math.min(50, Math.max(1, Math.floor(routes / 100)));
  for (const [name, text] of scaleManifests({ routes, namespaces: Math.max(1, Math.floor(routes / 10)), gateways, basePort, backendPort })) writeFileSync(join(dir, name), text);
  const admin = await freePort();
  const t0 = performance.now();
  const portico = spawnPortico(dir, admin);
  try {
    await waitForReady(admin, 120000);
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    const rssMB = rssBytes(portico.child.pid!) / 1048576;
    await waitForPort(basePort);
    const times: number[] = [];
    for (let i = 0; i < changes; i++) {
      const host = `new-${i}.example.com`;
      const obj = route(1_000_000 + i, 'ns-0', 'gw-0', host);
      const w0 = performance.now();
      writeFileSync(join(dir, `new-${i}.yaml`), stringify(obj));
      while ((await get(basePort, host, `/r${1_000_000 + i}`)) !== 200) {
        if (performance.now() - w0 > 10000) throw new Error(`route ${i} not live after 10 s`);
      }
      times.push(performance.now() - w0);
    }
    return { routes, readyMs, rssMB, propagationP50Ms: median(times), propagationP99Ms: percentile(times, 99), changes };
  } finally {
    await portico.stop();
    await be.stop();
  }
}

export function printControlPlane(figs: ControlPlaneFigure[]): string {
  return '\n### Control plane, file mode\n\n' + table(
    ['routes', 'start → ready ms', 'RSS MB at rest', 'propagation p50 ms', 'propagation p99 ms', 'changes'],
    figs.map((f) => [f.routes, fmt(f.readyMs), fmt(f.rssMB), fmt(f.propagationP50Ms, 2), fmt(f.propagationP99Ms, 2), f.changes]),
  );
}
