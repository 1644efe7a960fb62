// Control plane at scale in Kubernetes mode, against the local cluster (conformance/cluster.ts)
// when it exists: N HTTPRoutes are written through the API server first, then `portico run
// --kubernetes` starts; time to /readyz, to every route Accepted=True in its status on the API
// server (written by Portico as the leader), resident memory, and propagation (a new HTTPRoute
// created through the API → the first answer through the Gateway's pool address).
// Routes are RequestRedirect-only (302, no backend): the cluster's EndpointSlices cannot point at
// loopback, and the figure is about the control plane, not about a backend.
// Everything lives in a namespace and a GatewayClass (own controllerName) of its own, removed
// at the end; a cluster this run did not start is left running.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { acquire, kubeconfigPath } from '../conformance/cluster.ts';
import { KubeClient, type KubeObject } from '../conformance/lib/kube.ts';
import { freePort, rssBytes } from './lib/proc.ts';
import { explainPortico, freePortRange, spawnPortico, waitForReady } from './lib/targets.ts';
import { propagation, until, type ControlPlaneFigure } from './control-plane.ts';

const GROUP = 'gateway.networking.k8s.io';
const V1 = `${GROUP}/v1`;

function redirectRoute(i: number, ns: string): KubeObject {
  return {
    apiVersion: V1, kind: 'HTTPRoute', metadata: { name: `route-${i}`, namespace: ns },
    spec: {
      parentRefs: [{ name: 'gw' }],
      hostnames: [`r${i}.bench.example.com`],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/r${i}` } }], filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'moved.example.com', statusCode: 302 } }] }],
    },
  };
}

/** Status code of GET http://address:port/r{i} for route i's hostname (0 on a connection error). */
function get(address: string, port: number, i: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port, path: `/r${i}`, headers: { host: `r${i}.bench.example.com` }, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function inParallel(n: number, width: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

/**
 * The figure, or a sentence saying why the Kubernetes variant was skipped. `restMs` > 0 measures
 * propagation at rest (the "within 100 ms at rest"): each change waits that long first.
 */
export async function runControlPlaneKube(routes: number, changes: number, restMs = 0, timeoutMs = 600_000): Promise<ControlPlaneFigure | string> {
  if (!kubeconfigPath()) return 'Kubernetes mode skipped: no local cluster (start one with `npm run cluster -- up`).';
  const cluster = await acquire();
  const client = KubeClient.fromKubeconfig(cluster.kubeconfig);
  const id = Math.random().toString(36).slice(2, 8);
  const ns = `bench-cp-${id}`;
  const className = `portico-bench-${id}`;
  const controllerName = `portico.dev/bench-${id}`;
  // Two loopback addresses of a random /30, so that parallel runs never share an address.
  const addressPool = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.0/30`;
  const address = addressPool.replace(/0\/30$/, '1');
  const port = await freePortRange(1);
  let portico: ReturnType<typeof spawnPortico> | undefined;
  let admin = 0;
  let log = '';
  try {
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await client.create({ apiVersion: V1, kind: 'GatewayClass', metadata: { name: className }, spec: { controllerName } });
    // By path: pluralOf() in conformance/lib/kube.ts makes "gatewaies" of Gateway.
    await client.request('POST', `/apis/${V1}/namespaces/${ns}/gateways`, { apiVersion: V1, kind: 'Gateway', metadata: { name: 'gw', namespace: ns }, spec: { gatewayClassName: className, listeners: [{ name: 'http', port, protocol: 'HTTP' }] } });
    await inParallel(routes, 16, (i) => client.create(redirectRoute(i, ns)));
    // The kubeconfig's namespace holds the leader Lease: ours, so no other Portico holds it.
    const dir = mkdtempSync(join(tmpdir(), 'portico-cp-k8s-'));
    const kc = parse(readFileSync(cluster.kubeconfig, 'utf8'));
    for (const c of kc.contexts) c.context.namespace = ns;
    const kubeconfig = join(dir, 'kubeconfig');
    log = join(dir, 'portico.log');
    writeFileSync(kubeconfig, stringify(kc), { mode: 0o600 });

    admin = await freePort();
    const t0 = performance.now();
    portico = spawnPortico({ kubeconfig, addressPool, controllerName }, admin, undefined, log);
    await waitForReady(admin, timeoutMs);
    const readyMs = performance.now() - t0;
    await until(async () => (await get(address, port, routes - 1)) === 302, timeoutMs, `route ${routes - 1} answering`);
    const lastRouteMs = performance.now() - t0;
    const accepted = async () => {
      const list = await client.get(`/apis/${V1}/namespaces/${ns}/httproutes`);
      return (list.items as any[]).filter((r) => r.status?.parents?.some((p: any) => p.controllerName === controllerName && p.conditions?.some((c: any) => c.type === 'Accepted' && c.status === 'True'))).length;
    };
    while ((await accepted()) < routes) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`not every route Accepted after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const acceptedMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    const rssMB = rssBytes(portico.child.pid!) / 1048576;
    const p = await propagation(changes, (i) => client.create(redirectRoute(1_000_000 + i, ns)), async (i) => (await get(address, port, 1_000_000 + i)) === 302, 10_000, restMs);
    return { mode: restMs > 0 ? 'kubernetes at rest' : 'kubernetes', routes, readyMs, lastRouteMs, acceptedMs, rssMB, propagationP50Ms: p.p50, propagationP99Ms: p.p99, changes };
  } catch (e) {
    throw portico ? await explainPortico(e, admin, log) : e;
  } finally {
    await portico?.stop();
    await client.delete(`/apis/${V1}/gatewayclasses/${className}`).catch(() => {});
    await client.delete(`/api/v1/namespaces/${ns}`).catch(() => {});
    client.close();
    await cluster.release();
  }
}
