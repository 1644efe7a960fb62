// The provider against an API server of its own (fresh etcd + kube-apiserver processes, built by
// conformance/lib/build.ts), which this test may break at will: without the Gateway API CRDs the
// kinds are empty and explained; a CRD installed later is picked up without a restart; the API
// server is restarted (killed and started again) under the provider's watches; a CRD removed
// while watched empties its kind again. Skips loudly when the binaries cannot be had.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Snapshot } from '../src/providers/snapshot.ts';
import { KubeClient } from '../src/providers/kubernetes/client.ts';
import type { ClusterConnection } from '../src/providers/kubernetes/kubeconfig.ts';
import { KubernetesProvider } from '../src/providers/kubernetes/index.ts';
import { StatusWriter } from '../src/providers/kubernetes/status-writer.ts';
import { eventually } from './provider-kubernetes-cluster.ts';
import { freePort } from './support/client.ts';

const conformanceLib = join(import.meta.dirname, '..', 'conformance', 'lib');

/** Why this test cannot run, or undefined. */
async function unavailable(): Promise<string | undefined> {
  if (process.env.PORTICO_SKIP_CLUSTER === '1') return 'PORTICO_SKIP_CLUSTER=1';
  if (!existsSync(join(conformanceLib, 'build.ts'))) return 'conformance/lib/build.ts is not in this tree';
  const build = await import(join(conformanceLib, 'build.ts'));
  if (!(await build.goAvailable())) return 'Go is not installed, so kube-apiserver and etcd cannot be built';
  return undefined;
}

interface OwnServer {
  conn: ClusterConnection;
  /** Compacts etcd's history up to now: watches from older resourceVersions get 410 Gone. */
  compact(): Promise<void>;
  crdDir: string;
  startApiserver(): Promise<void>;
  stopApiserver(): Promise<void>;
  close(): Promise<void>;
}

async function startOwnServer(): Promise<OwnServer> {
  const build = await import(join(conformanceLib, 'build.ts'));
  const { makePki } = await import(join(conformanceLib, 'pki.ts'));
  await build.ensureEtcd();
  await build.ensureKubernetes();
  const dir = mkdtempSync(join(tmpdir(), 'portico-own-apiserver-'));
  const pki = await makePki(join(dir, 'pki'), { nodeIP: '127.0.0.1', serviceIP: '10.97.0.1' });
  const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const etcdURL = `http://127.0.0.1:${etcdPort}`;
  const peerURL = `http://127.0.0.1:${peerPort}`;
  const procs: ChildProcess[] = [];
  const logs: string[] = [];
  const daemon = (name: string, bin: string, args: string[]) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (c) => { logs.push(`${name}: ${c}`); if (logs.length > 200) logs.shift(); });
    procs.push(p);
    return p;
  };
  const etcd = daemon('etcd', build.binPath('etcd'), [
    '--name=default', `--data-dir=${join(dir, 'etcd')}`, `--listen-client-urls=${etcdURL}`, `--advertise-client-urls=${etcdURL}`,
    `--listen-peer-urls=${peerURL}`, `--initial-advertise-peer-urls=${peerURL}`, `--initial-cluster=default=${peerURL}`,
    '--unsafe-no-fsync', '--log-level=warn',
  ]);
  const b64 = (f: string) => readFileSync(f, 'utf8');
  const conn: ClusterConnection = {
    server: `https://127.0.0.1:${apiPort}`, ca: b64(pki.caCert), cert: b64(pki.adminCert), key: b64(pki.adminKey),
    namespace: 'default', source: 'own apiserver',
  };
  let apiserver: ChildProcess | undefined;
  const startApiserver = async () => {
    apiserver = daemon('kube-apiserver', build.binPath('kube-apiserver'), [
      `--etcd-servers=${etcdURL}`, '--bind-address=127.0.0.1', `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`, `--client-ca-file=${pki.caCert}`,
      '--service-cluster-ip-range=10.97.0.0/16', '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      '--authorization-mode=RBAC', `--cert-dir=${join(dir, 'certs')}`, '--profiling=false', '--v=0',
    ]);
    const client = new KubeClient(conn);
    try {
      await eventually('the own kube-apiserver to be ready', async () => {
        if (apiserver!.exitCode !== null) throw new Error(`kube-apiserver exited: ${logs.slice(-5).join('')}`);
        return (await fetchText(client, '/readyz')) === 'ok';
      }, 120_000);
    } finally {
      client.close();
    }
  };
  const stopApiserver = async () => {
    const p = apiserver;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.on('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  try {
    await startApiserver();
  } catch (err) {
    for (const p of procs) p.kill('SIGKILL');
    throw err;
  }
  void etcd;
  const compact = async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${etcdURL}${path}`, { method: 'POST', body: JSON.stringify(body) });
      assert.ok(res.ok, `etcd ${path}: ${res.status}`);
      return res.json() as Promise<any>;
    };
    const { header } = await post('/v3/kv/range', { key: Buffer.from('compact-probe').toString('base64') });
    await post('/v3/kv/compaction', { revision: header.revision, physical: true });
  };
  return {
    conn,
    compact,
    crdDir: await build.gatewayCrdDir(),
    startApiserver,
    stopApiserver,
    async close() {
      for (const p of procs) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function fetchText(client: KubeClient, path: string): Promise<string> {
  return client.request<string>('GET', path, { timeoutMs: 3000, text: true }).catch(() => '');
}

function crd(dir: string, file: string): any {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  return (Array.isArray(docs) ? docs : [])[0].toJS();
}

test('kubernetes provider: missing CRDs, CRDs installed and removed later, API server restarted', async (t) => {
  const why = await unavailable();
  if (why) {
    process.stderr.write(`\n*** SKIPPED (no Kubernetes API server): ${t.name}: ${why}\n`);
    t.skip(why);
    return;
  }
  const own = await startOwnServer();
  const admin = new KubeClient(own.conn);
  const logs: string[] = [];
  const provider = new KubernetesProvider({ connection: own.conn, rediscoverMs: 300, backoffMaxMs: 1000, log: (l) => logs.push(l) });
  let latest: Snapshot | undefined;
  const until = (what: string, pred: (s: Snapshot) => boolean, timeoutMs = 20_000) =>
    eventually(what, () => (latest && pred(latest) ? latest : undefined), timeoutMs).catch((e) => assert.fail(`${e.message}\n${logs.slice(-10).join('\n')}`));
  try {
    provider.watch((s) => { latest = s; });
    await provider.reload();
    latest = provider.snapshot();
    const missing = (s: Snapshot) => s.diagnostics.filter((d) => d.where.startsWith('kubernetes ') && /served/.test(d.message)).map((d) => d.where.slice('kubernetes '.length)).sort();
    assert.deepEqual(missing(latest), ['BackendTLSPolicy', 'GRPCRoute', 'Gateway', 'GatewayClass', 'HTTPRoute', 'ListenerSet', 'ReferenceGrant', 'TCPRoute', 'TLSRoute', 'UDPRoute', 'XBackendTrafficPolicy']);
    assert.ok(latest.objects.get('Namespace')!.has('default'), 'core kinds are watched regardless');
    assert.equal(latest.objects.get('GatewayClass')!.size, 0);

    // The GatewayClass CRD appears: discovered without a restart, then watched.
    const gcCrd = crd(own.crdDir, 'gateway.networking.k8s.io_gatewayclasses.yaml');
    await admin.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: gcCrd });
    await until('GatewayClass served', (s) => !missing(s).includes('GatewayClass'));
    const gcPath = '/apis/gateway.networking.k8s.io/v1/gatewayclasses';
    await eventually('creating a GatewayClass', () => admin.request('POST', gcPath, { body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'one' }, spec: { controllerName: 'example.com/x' } } }), 20_000);
    await until('GatewayClass one', (s) => s.objects.get('GatewayClass')!.has('one'));

    // The API server dies and comes back (same etcd): the watches resume, nothing is lost, and a
    // status write that failed meanwhile is retried on its own.
    await own.stopApiserver();
    const writer = new StatusWriter(provider, { controllerName: 'example.com/x', log: (l) => logs.push(l) });
    const one = latest.objects.get('GatewayClass')!.get('one')!;
    const accepted = { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' };
    assert.equal((await writer.write([{ key: 'GatewayClass/one', object: one, status: { conditions: [accepted] } }])).failed, 1);
    await new Promise((r) => setTimeout(r, 1000));
    await own.startApiserver();
    await admin.request('POST', gcPath, { body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'two' }, spec: { controllerName: 'example.com/x' } } });
    await admin.request('POST', '/api/v1/namespaces/default/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-restart' } } });
    await until('objects created after the restart', (s) => s.objects.get('GatewayClass')!.has('two') && s.objects.get('ConfigMap')!.has('default/after-restart'), 60_000);
    await eventually('the failed status write retried', async () => (await admin.request('GET', `${gcPath}/one`)).status?.conditions?.some((c: any) => c.type === 'Accepted' && c.status === 'True'), 60_000);
    writer.stop();

    // History compacted, and a watch resumed from a resourceVersion before it: 410 Gone → relist.
    const informer = (provider as any).informers.get('ConfigMap');
    const listsBefore = informer.stats.lists;
    await admin.request('POST', '/api/v1/namespaces/default/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before-compaction' } } });
    await until('before-compaction', (s) => s.objects.get('ConfigMap')!.has('default/before-compaction'));
    await own.compact();
    // Same tick: no watch event can move the resourceVersion on before the connection is cut.
    informer.resourceVersion = '2';
    provider.client.destroyConnections();
    await admin.request('POST', '/api/v1/namespaces/default/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after-compaction' } } });
    await until('after-compaction, after relisting', (s) => s.objects.get('ConfigMap')!.has('default/after-compaction'));
    assert.ok(informer.stats.lists > listsBefore, `relisted after 410 (${logs.slice(-3).join(' | ')})`);

    // The CRD goes away: its kind is empty and explained again.
    await admin.request('DELETE', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${gcCrd.metadata.name}`);
    await until('GatewayClass gone with its CRD', (s) => s.objects.get('GatewayClass')!.size === 0 && missing(s).includes('GatewayClass'), 60_000);
  } finally {
    await provider.close();
    admin.close();
    await own.close();
  }
});
