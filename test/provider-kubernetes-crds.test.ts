// The provider against an API server of its own (fresh etcd + kube-apiserver processes, built by
// conformance/lib/build.ts), which this test may break at will: without the Gateway API CRDs the
// kinds are empty and explained; a CRD installed later is picked up without a restart; the API
// server is restarted (killed and started again) under the provider's watches; a CRD removed
// while watched empties its kind again; CRDs that serve a kind only at an older version than the
// group's preferred one (an older bundle) are watched and written at that version. Skips loudly
// when the binaries cannot be had.
import { test, type TestContext } from 'node:test';
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
import { translate } from '../src/translate/index.ts';
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

/** Skips (loudly) a test that needs its own API server when none can be started here. */
async function skippedWithoutServer(t: TestContext): Promise<boolean> {
  const why = await unavailable();
  if (!why) return false;
  process.stderr.write(`\n*** SKIPPED (no Kubernetes API server): ${t.name}: ${why}\n`);
  t.skip(why);
  return true;
}

function crd(dir: string, file: string): any {
  const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
  return (Array.isArray(docs) ? docs : [])[0].toJS();
}

test('kubernetes provider: missing CRDs, CRDs installed and removed later, API server restarted', async (t) => {
  if (await skippedWithoutServer(t)) return;
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

/** A bundle CRD cut down to one of its versions, as an older bundle that served only that one. */
function onlyVersion(dir: string, file: string, version: string): any {
  const c = crd(dir, file);
  const kept = c.spec.versions.filter((v: any) => v.name === version);
  assert.equal(kept.length, 1, `${file} has ${version}`);
  c.spec.versions = [{ ...kept[0], served: true, storage: true }];
  return c;
}

test('kubernetes provider: kinds served only at an older version are watched and get status at that version', async (t) => {
  if (await skippedWithoutServer(t)) return;
  const own = await startOwnServer();
  const admin = new KubeClient(own.conn);
  const logs: string[] = [];
  const controllerName = 'example.com/versions';
  const crdsPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  // The group's preferred version is v1 (GatewayClass, Gateway and HTTPRoute serve it), but
  // TLSRoute is served only as v1alpha2, BackendTLSPolicy only as v1alpha3 and ReferenceGrant
  // only as v1beta1, as with the bundles that introduced them.
  const installed = [
    crd(own.crdDir, 'gateway.networking.k8s.io_gatewayclasses.yaml'),
    crd(own.crdDir, 'gateway.networking.k8s.io_gateways.yaml'),
    crd(own.crdDir, 'gateway.networking.k8s.io_httproutes.yaml'),
    onlyVersion(own.crdDir, 'gateway.networking.k8s.io_tlsroutes.yaml', 'v1alpha2'),
    onlyVersion(own.crdDir, 'gateway.networking.k8s.io_backendtlspolicies.yaml', 'v1alpha3'),
    onlyVersion(own.crdDir, 'gateway.networking.k8s.io_referencegrants.yaml', 'v1beta1'),
  ];
  let provider: KubernetesProvider | undefined;
  try {
    for (const c of installed) await admin.request('POST', crdsPath, { body: c });
    for (const c of installed) {
      await eventually(`${c.metadata.name} Established`, async () =>
        (await admin.request('GET', `${crdsPath}/${c.metadata.name}`)).status?.conditions?.some((x: any) => x.type === 'Established' && x.status === 'True'), 30_000);
    }
    // Discovery follows Established a moment later: the provider is started once it lists all.
    for (const c of installed) {
      await eventually(`${c.spec.names.plural} in discovery`, async () =>
        (await admin.request('GET', `/apis/${c.spec.group}/${c.spec.versions[0].name}`)).resources?.some((r: any) => r.name === c.spec.names.plural), 30_000);
    }
    const group = await admin.request('GET', '/apis/gateway.networking.k8s.io');
    assert.equal(group.preferredVersion.version, 'v1', 'the preferred version does not serve TLSRoute');

    provider = new KubernetesProvider({ connection: own.conn, controllerName, backoffMaxMs: 1000, log: (l) => logs.push(l) });
    let latest: Snapshot | undefined;
    /** Snapshots without the TLSRoute once it was there (traffic it carries would stop). */
    let tlsRouteSeen = false;
    let tlsRouteVanished = 0;
    provider.watch((s) => {
      latest = s;
      if (s.objects.get('TLSRoute')?.has('default/tls')) tlsRouteSeen = true;
      else if (tlsRouteSeen) tlsRouteVanished++;
    });
    await provider.reload();
    latest = provider.snapshot();
    const until = (what: string, pred: (s: Snapshot) => boolean, timeoutMs = 20_000) =>
      eventually(what, () => (latest && pred(latest) ? latest : undefined), timeoutMs).catch((e) => assert.fail(`${e.message}\n${logs.slice(-10).join('\n')}`));
    const versionOf = (kind: Parameters<KubernetesProvider['resource']>[0]) => provider!.resource(kind)?.apiVersion;
    assert.equal(versionOf('GatewayClass'), 'gateway.networking.k8s.io/v1');
    assert.equal(versionOf('HTTPRoute'), 'gateway.networking.k8s.io/v1');
    assert.equal(versionOf('TLSRoute'), 'gateway.networking.k8s.io/v1alpha2');
    assert.equal(versionOf('BackendTLSPolicy'), 'gateway.networking.k8s.io/v1alpha3');
    assert.equal(versionOf('ReferenceGrant'), 'gateway.networking.k8s.io/v1beta1');
    const missing = latest.diagnostics.filter((d) => /served/.test(d.message)).map((d) => d.where).sort();
    assert.deepEqual(missing, ['kubernetes GRPCRoute', 'kubernetes ListenerSet', 'kubernetes TCPRoute', 'kubernetes UDPRoute', 'kubernetes XBackendTrafficPolicy']);

    const GW = 'gateway.networking.k8s.io';
    const ns = 'default';
    const post = (apiVersion: string, plural: string, body: Record<string, unknown>, namespaced = true) =>
      admin.request('POST', `/apis/${apiVersion}${namespaced ? `/namespaces/${ns}` : ''}/${plural}`, { body: { apiVersion, ...body } });
    await post(`${GW}/v1`, 'gatewayclasses', { kind: 'GatewayClass', metadata: { name: 'versions' }, spec: { controllerName } }, false);
    await post(`${GW}/v1`, 'gateways', { kind: 'Gateway', metadata: { name: 'gw' }, spec: { gatewayClassName: 'versions', listeners: [
      { name: 'tls', port: 443, protocol: 'TLS', hostname: 'tls.example.com', tls: { mode: 'Passthrough' }, allowedRoutes: { kinds: [{ kind: 'TLSRoute' }] } },
      { name: 'http', port: 80, protocol: 'HTTP' },
    ] } });
    await admin.request('POST', `/api/v1/namespaces/${ns}/services`, { body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ name: 'https', port: 443 }] } } });
    await post(`${GW}/v1alpha2`, 'tlsroutes', { kind: 'TLSRoute', metadata: { name: 'tls' }, spec: {
      parentRefs: [{ name: 'gw', sectionName: 'tls' }], hostnames: ['tls.example.com'], rules: [{ backendRefs: [{ name: 'svc', port: 443 }] }],
    } });
    await post(`${GW}/v1`, 'httproutes', { kind: 'HTTPRoute', metadata: { name: 'http' }, spec: {
      parentRefs: [{ name: 'gw', sectionName: 'http' }], rules: [{ backendRefs: [{ name: 'svc', port: 443 }] }],
    } });
    await post(`${GW}/v1alpha3`, 'backendtlspolicies', { kind: 'BackendTLSPolicy', metadata: { name: 'btls' }, spec: {
      targetRefs: [{ group: '', kind: 'Service', name: 'svc' }], validation: { hostname: 'svc.example.com', wellKnownCACertificates: 'System' },
    } });
    await post(`${GW}/v1beta1`, 'referencegrants', { kind: 'ReferenceGrant', metadata: { name: 'rg' }, spec: {
      from: [{ group: GW, kind: 'TLSRoute', namespace: 'elsewhere' }], to: [{ group: '', kind: 'Service' }],
    } });
    const has = (s: Snapshot, kind: Parameters<KubernetesProvider['resource']>[0], key: string) => s.objects.get(kind)?.get(key);
    const snap = await until('the objects of every version', (s) => !!has(s, 'TLSRoute', `${ns}/tls`) && !!has(s, 'BackendTLSPolicy', `${ns}/btls`)
      && !!has(s, 'ReferenceGrant', `${ns}/rg`) && !!has(s, 'HTTPRoute', `${ns}/http`) && !!has(s, 'Gateway', `${ns}/gw`) && !!has(s, 'Service', `${ns}/svc`));
    assert.equal(has(snap, 'TLSRoute', `${ns}/tls`)!.apiVersion, `${GW}/v1alpha2`);
    assert.equal(has(snap, 'BackendTLSPolicy', `${ns}/btls`)!.apiVersion, `${GW}/v1alpha3`);
    assert.equal(has(snap, 'ReferenceGrant', `${ns}/rg`)!.apiVersion, `${GW}/v1beta1`);

    // Translated and written back at the version the cluster serves.
    const writer = new StatusWriter(provider, { controllerName, log: (l) => logs.push(l) });
    const writeFrom = async (s: Snapshot) => {
      const report = await writer.write(translate(s, { now: '2026-01-01T00:00:00Z', controllerName }).statuses);
      assert.equal(report.failed, 0, logs.join('\n'));
    };
    await writeFrom(snap);
    const ours = (o: any, field: 'parents' | 'ancestors') => o.status?.[field]?.find((p: any) => p.controllerName === controllerName);
    const accepted = (entry: any) => entry?.conditions?.find((c: any) => c.type === 'Accepted');
    let route = await admin.request('GET', `/apis/${GW}/v1alpha2/namespaces/${ns}/tlsroutes/tls`);
    assert.equal(route.apiVersion, `${GW}/v1alpha2`);
    assert.deepEqual([accepted(ours(route, 'parents'))?.status, accepted(ours(route, 'parents'))?.observedGeneration], ['True', 1], JSON.stringify(route.status));
    const policy = await admin.request('GET', `/apis/${GW}/v1alpha3/namespaces/${ns}/backendtlspolicies/btls`);
    assert.equal(accepted(ours(policy, 'ancestors'))?.status, 'True', JSON.stringify(policy.status));

    // A change at that version reaches the snapshot and its status follows the new generation.
    await admin.request('PATCH', `/apis/${GW}/v1alpha2/namespaces/${ns}/tlsroutes/tls`, {
      body: { spec: { hostnames: ['tls.example.com', 'other.example.com'] } }, contentType: 'application/merge-patch+json',
    });
    const changed = await until('the TLSRoute at generation 2', (s) => has(s, 'TLSRoute', `${ns}/tls`)?.metadata.generation === 2);
    await writeFrom(changed);
    route = await admin.request('GET', `/apis/${GW}/v1alpha2/namespaces/${ns}/tlsroutes/tls`);
    assert.equal(accepted(ours(route, 'parents'))?.observedGeneration, 2, JSON.stringify(route.status));

    // The CRD is upgraded to a bundle that serves TLSRoute as v1 and no longer as v1alpha2 (kept
    // unserved: objects were stored at it). The watch on v1alpha2 ends with 404: the provider
    // finds v1 at once (not at the next periodic rediscovery, 30 s by default) and the route
    // never leaves the snapshot in between.
    const tlsCrdPath = `${crdsPath}/tlsroutes.${GW}`;
    const current = await admin.request('GET', tlsCrdPath);
    const v1 = crd(own.crdDir, 'gateway.networking.k8s.io_tlsroutes.yaml').spec.versions.find((v: any) => v.name === 'v1');
    current.spec.versions = [{ ...current.spec.versions[0], served: false, storage: false }, { ...v1, served: true, storage: true }];
    await admin.request('PUT', tlsCrdPath, { body: current });
    await until('TLSRoute watched as v1', (s) => versionOf('TLSRoute') === `${GW}/v1` && has(s, 'TLSRoute', `${ns}/tls`)?.apiVersion === `${GW}/v1`, 15_000);
    assert.equal(tlsRouteVanished, 0, 'the TLSRoute stayed in every snapshot during the upgrade');
    assert.ok(!latest.diagnostics.some((d) => d.where === 'kubernetes TLSRoute'), JSON.stringify(latest.diagnostics));
    await admin.request('PATCH', `/apis/${GW}/v1/namespaces/${ns}/tlsroutes/tls`, {
      body: { spec: { hostnames: ['tls.example.com'] } }, contentType: 'application/merge-patch+json',
    });
    const upgraded = await until('the TLSRoute at generation 3', (s) => has(s, 'TLSRoute', `${ns}/tls`)?.metadata.generation === 3);
    await writeFrom(upgraded);
    route = await admin.request('GET', `/apis/${GW}/v1/namespaces/${ns}/tlsroutes/tls`);
    assert.equal(accepted(ours(route, 'parents'))?.observedGeneration, 3, JSON.stringify(route.status));
  } finally {
    await provider?.close();
    admin.close();
    await own.close();
  }
});
