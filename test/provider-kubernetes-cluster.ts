// The real kube-apiserver for the Kubernetes-mode tests: the local cluster of conformance/cluster.ts
// (etcd + kube-apiserver as processes, built with `go build`), brought up or reused. When it
// cannot be had, tests skip LOUDLY with the reason, never pass silently.
//
//   PORTICO_SKIP_CLUSTER=1          skip these tests
//   PORTICO_TEST_KUBECONFIG=FILE    use this cluster instead (it needs the Gateway API CRDs)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import type { TestContext } from 'node:test';
import { KubeApiError, KubeClient } from '../src/providers/kubernetes/client.ts';
import { loadKubeconfigFile } from '../src/providers/kubernetes/kubeconfig.ts';
import type { ClusterConnection } from '../src/providers/kubernetes/kubeconfig.ts';

let cached: Promise<ClusterConnection | string> | undefined;

/** The connection to the test cluster, or undefined after skipping the test with the reason. */
export async function testCluster(t: TestContext): Promise<ClusterConnection | undefined> {
  cached ??= bringUp();
  const result = await cached;
  if (typeof result === 'string') {
    process.stderr.write(`\n*** SKIPPED (no Kubernetes API server): ${t.name}: ${result}\n`);
    t.skip(`no Kubernetes API server: ${result}`);
    return undefined;
  }
  return result;
}

async function bringUp(): Promise<ClusterConnection | string> {
  if (process.env.PORTICO_SKIP_CLUSTER === '1') return 'PORTICO_SKIP_CLUSTER=1';
  if (process.env.PORTICO_TEST_KUBECONFIG) return loadKubeconfigFile(process.env.PORTICO_TEST_KUBECONFIG);
  const clusterModule = join(import.meta.dirname, '..', 'conformance', 'cluster.ts');
  if (!existsSync(clusterModule)) return 'conformance/cluster.ts (the local cluster) is not in this tree';
  if (spawnSync('go', ['version']).status !== 0) return 'Go is not installed, so kube-apiserver and etcd cannot be built';
  try {
    // acquire() shares one cluster between concurrent test processes; the last to release a
    // cluster that tests started stops it.
    const cluster = (await import(clusterModule)) as { acquire(): Promise<{ kubeconfig: string; release(): Promise<void> }> };
    const acquired = await cluster.acquire();
    release = acquired.release;
    return loadKubeconfigFile(acquired.kubeconfig);
  } catch (err) {
    return `the local cluster did not come up: ${(err as Error).message.split('\n').slice(0, 5).join(' | ')}`;
  }
}

let release: (() => Promise<void>) | undefined;
after(async () => {
  await release?.();
});

/** A short random suffix for names, so that tests sharing the cluster never collide. */
export function uniq(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls until fn returns a truthy value, or fails with the last value seen. */
export async function eventually<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Creates an object (admin client), returning what the server stored. */
export function create(client: KubeClient, path: string, body: unknown): Promise<any> {
  return client.request('POST', path, { body });
}

/** Deletes an object, ignoring "not found". */
export async function remove(client: KubeClient, path: string): Promise<void> {
  try {
    await client.request('DELETE', path);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 404)) throw err;
  }
}

/**
 * A TCP proxy in front of the API server whose connections the test can cut, and which can
 * refuse new ones for a while: the client sees what an API server restart looks like.
 */
export class CuttableProxy {
  readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  private target: { host: string; port: number };

  private constructor(target: { host: string; port: number }) {
    this.target = target;
    this.server = createServer((inbound) => {
      if (this.refusing) return inbound.destroy();
      const outbound = new Socket();
      outbound.connect(this.target.port, this.target.host);
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
  }

  static async start(server: string): Promise<CuttableProxy> {
    const url = new URL(server);
    const proxy = new CuttableProxy({ host: url.hostname, port: Number(url.port || 443) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const addr = this.server.address() as { port: number };
    return `https://127.0.0.1:${addr.port}`;
  }

  /** Cuts every open connection; with refuseMs, new connections are refused for that long. */
  cut(refuseMs = 0): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (refuseMs > 0) {
      this.refusing = true;
      setTimeout(() => { this.refusing = false; }, refuseMs).unref();
    }
  }

  get open(): number {
    return this.sockets.size;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export { KubeClient };
