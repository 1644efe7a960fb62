// The Kubernetes provider, status writer and leader election against a REAL kube-apiserver (the
// local cluster of conformance/cluster.ts, with the Gateway API CRDs installed). Each test works in
// its own namespace and with its own controllerName, so tests sharing the cluster never collide.
// Without a cluster the tests skip loudly (see provider-kubernetes-cluster.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { KubeObject } from '../src/api/meta.ts';
import type { Snapshot, SnapshotKind } from '../src/providers/snapshot.ts';
import type { OwnedStatus } from '../src/translate/index.ts';
import { KubeClient, resourcePath } from '../src/providers/kubernetes/client.ts';
import type { ClusterConnection } from '../src/providers/kubernetes/kubeconfig.ts';
import { KubernetesProvider } from '../src/providers/kubernetes/index.ts';
import type { KubernetesProviderOptions } from '../src/providers/kubernetes/index.ts';
import { LeaderElector } from '../src/providers/kubernetes/leader.ts';
import { StatusWriter } from '../src/providers/kubernetes/status-writer.ts';
import type { StatusSource } from '../src/providers/kubernetes/status-writer.ts';
import { CuttableProxy, eventually, remove, testCluster, uniq } from './provider-kubernetes-cluster.ts';

const GW = 'gateway.networking.k8s.io';
const T0 = '2026-01-01T00:00:00Z';

interface Env {
  conn: ClusterConnection;
  admin: KubeClient;
  ns: string;
  controllerName: string;
  cleanup: (() => Promise<void>)[];
}

/** A namespace and a controllerName of the test's own; everything is removed afterwards. */
async function setup(conn: ClusterConnection): Promise<Env> {
  const admin = new KubeClient(conn);
  const ns = uniq('pk');
  await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
  return { conn, admin, ns, controllerName: `portico.dev/${uniq('test')}`, cleanup: [] };
}

async function teardown(env: Env): Promise<void> {
  for (const fn of env.cleanup.reverse()) await fn().catch(() => {});
  await remove(env.admin, `/api/v1/namespaces/${env.ns}`).catch(() => {});
  env.admin.close();
}

/** A provider plus a way to wait for a snapshot that satisfies a condition. */
async function startProvider(env: Env, options: Partial<KubernetesProviderOptions> = {}) {
  const logs: string[] = [];
  const provider = new KubernetesProvider({ connection: env.conn, controllerName: env.controllerName, log: (l) => logs.push(l), ...options });
  env.cleanup.push(() => provider.close());
  let latest: Snapshot | undefined;
  provider.watch((s) => { latest = s; });
  await provider.reload();
  latest = provider.snapshot();
  const until = (what: string, pred: (s: Snapshot) => boolean, timeoutMs = 10_000) =>
    eventually(what, () => (latest && pred(latest) ? latest : undefined), timeoutMs);
  return { provider, logs, until, latest: () => latest! };
}

function pathFor(provider: KubernetesProvider, kind: SnapshotKind, ns?: string, name?: string, sub?: string): string {
  const r = provider.resource(kind);
  assert.ok(r, `${kind} is served`);
  return resourcePath(r, ns, name, sub);
}

const get = (snap: Snapshot, kind: SnapshotKind, key: string) => snap.objects.get(kind)?.get(key);

test('kubernetes provider: create, update and delete of every kind reach the snapshot', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const env = await setup(conn);
  try {
    const { provider, until, latest } = await startProvider(env);
    assert.deepEqual(latest().diagnostics, [], 'every kind is served (CRDs installed)');
    // Discovery picks the group's preferred version where it serves the kind (v1 for TLSRoute,
    // also served as v1alpha2/v1alpha3; v1 for ReferenceGrant, stored as v1beta1).
    assert.equal(provider.resource('TLSRoute')?.apiVersion, 'gateway.networking.k8s.io/v1');
    assert.equal(provider.resource('ReferenceGrant')?.apiVersion, 'gateway.networking.k8s.io/v1');
    assert.equal(provider.resource('XBackendTrafficPolicy')?.apiVersion, 'gateway.networking.x-k8s.io/v1alpha1');
    assert.equal(provider.resource('EndpointSlice')?.apiVersion, 'discovery.k8s.io/v1');
    assert.ok(get(latest(), 'Namespace', env.ns), 'the listed namespace is there');
    const ns = env.ns;
    const gc = uniq('gc');
    const objects: [SnapshotKind, string | undefined, Record<string, unknown>][] = [
      ['GatewayClass', undefined, { metadata: { name: gc }, spec: { controllerName: env.controllerName } }],
      ['Gateway', ns, { metadata: { name: 'gw' }, spec: { gatewayClassName: gc, listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } }],
      ['ListenerSet', ns, { metadata: { name: 'ls' }, spec: { parentRef: { name: 'gw' }, listeners: [{ name: 'extra', port: 8080, protocol: 'HTTP' }] } }],
      ['HTTPRoute', ns, { metadata: { name: 'http' }, spec: { parentRefs: [{ name: 'gw' }] } }],
      ['GRPCRoute', ns, { metadata: { name: 'grpc' }, spec: {} }],
      ['TLSRoute', ns, { metadata: { name: 'tls' }, spec: { hostnames: ['a.example.com'], rules: [{ backendRefs: [{ name: 'svc', port: 443 }] }] } }],
      ['TCPRoute', ns, { metadata: { name: 'tcp' }, spec: { rules: [{ backendRefs: [{ name: 'svc', port: 80 }] }] } }],
      ['UDPRoute', ns, { metadata: { name: 'udp' }, spec: { rules: [{ backendRefs: [{ name: 'svc', port: 53 }] }] } }],
      ['ReferenceGrant', ns, { metadata: { name: 'rg' }, spec: { from: [{ group: GW, kind: 'HTTPRoute', namespace: 'elsewhere' }], to: [{ group: '', kind: 'Service' }] } }],
      ['BackendTLSPolicy', ns, { metadata: { name: 'btls' }, spec: { targetRefs: [{ group: '', kind: 'Service', name: 'svc' }], validation: { hostname: 'svc.example.com', wellKnownCACertificates: 'System' } } }],
      ['XBackendTrafficPolicy', ns, { metadata: { name: 'xbtp' }, spec: { targetRefs: [{ group: '', kind: 'Service', name: 'svc' }] } }],
      ['Service', ns, { metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } }],
      ['EndpointSlice', ns, { metadata: { name: 'svc-1', labels: { 'kubernetes.io/service-name': 'svc' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.1.2.3'] }], ports: [{ port: 80 }] }],
      ['Secret', ns, { metadata: { name: 'sec' }, type: 'Opaque', data: { a: Buffer.from('b').toString('base64') } }],
      ['ConfigMap', ns, { metadata: { name: 'cm' }, data: { a: 'b' } }],
    ];
    env.cleanup.push(() => remove(env.admin, pathFor(provider, 'GatewayClass', undefined, gc)));
    const keyOf = (kind: SnapshotKind, o: Record<string, any>) => (kind === 'GatewayClass' ? o.metadata.name : `${ns}/${o.metadata.name}`);
    const genBefore = latest().generation;

    for (const [kind, namespace, body] of objects) {
      const r = provider.resource(kind)!;
      await env.admin.request('POST', resourcePath(r, namespace), { body: { apiVersion: r.apiVersion, kind, ...body } });
    }
    const created = await until('every object created', (s) => objects.every(([kind, , o]) => get(s, kind, keyOf(kind, o))));
    assert.ok(created.generation > genBefore);
    for (const [kind, , o] of objects) {
      const got = get(created, kind, keyOf(kind, o))!;
      assert.equal(got.kind, kind, 'kind is set on every object, also core ones');
      assert.equal(got.apiVersion, provider.resource(kind)!.apiVersion);
      assert.equal(got.metadata.managedFields, undefined);
    }

    // Update: a label on every object, plus a real spec change on the Gateway (new generation).
    for (const [kind, namespace, o] of objects) {
      const patch: Record<string, unknown> = { metadata: { labels: { step: 'two' } } };
      if (kind === 'Gateway') patch.spec = { listeners: [{ name: 'http', port: 81, protocol: 'HTTP' }] };
      await env.admin.request('PATCH', pathFor(provider, kind, namespace, (o as any).metadata.name), { body: patch, contentType: 'application/merge-patch+json' });
    }
    await env.admin.request('PATCH', `/api/v1/namespaces/${ns}`, { body: { metadata: { labels: { step: 'two' } } }, contentType: 'application/merge-patch+json' });
    const updated = await until('every object updated', (s) =>
      objects.every(([kind, , o]) => get(s, kind, keyOf(kind, o))?.metadata.labels?.step === 'two') && get(s, 'Namespace', ns)?.metadata.labels?.step === 'two');
    const gw = get(updated, 'Gateway', `${ns}/gw`)!;
    assert.equal(gw.metadata.generation, 2);
    assert.equal((gw.spec as any).listeners[0].port, 81);

    for (const [kind, namespace, o] of objects) await env.admin.request('DELETE', pathFor(provider, kind, namespace, (o as any).metadata.name));
    await until('every object deleted', (s) => objects.every(([kind, , o]) => !get(s, kind, keyOf(kind, o))));

    // Namespaces come and go after the start too (allowedRoutes selectors read their labels).
    // A ConfigMap with a finalizer of ours holds the namespace in Terminating until the snapshot
    // has shown that state; then the namespace controller (kube-controller-manager) removes both.
    const ns2 = uniq('pk-late');
    env.cleanup.push(() => remove(env.admin, `/api/v1/namespaces/${ns2}`));
    const heldPath = `/api/v1/namespaces/${ns2}/configmaps/held`;
    env.cleanup.push(() => env.admin.request('PATCH', heldPath, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' }).then(() => {}));
    await env.admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns2, labels: { late: 'yes' } } } });
    await env.admin.request('POST', `/api/v1/namespaces/${ns2}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', finalizers: ['portico.dev/test-hold'] } } });
    const withNs2 = await until('the namespace created after the start', (s) => !!get(s, 'Namespace', ns2) && !!get(s, 'ConfigMap', `${ns2}/held`));
    assert.equal(get(withNs2, 'Namespace', ns2)!.metadata.labels?.late, 'yes');
    assert.equal((get(withNs2, 'Namespace', ns2)!.status as any)?.phase, 'Active');
    await env.admin.request('DELETE', `/api/v1/namespaces/${ns2}`);
    const terminating = await until('the namespace Terminating', (s) => (get(s, 'Namespace', ns2)?.status as any)?.phase === 'Terminating');
    assert.ok(get(terminating, 'Namespace', ns2)!.metadata.deletionTimestamp);
    await env.admin.request('PATCH', heldPath, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    await until('the namespace and its content gone', (s) => !get(s, 'Namespace', ns2) && !get(s, 'ConfigMap', `${ns2}/held`), 60_000);
  } finally {
    await teardown(env);
  }
});

test('kubernetes provider: an object deleted and created again under its name is the new object, even at the same generation', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const env = await setup(conn);
  try {
    // A long debounce puts the delete and the create in one publication, as happens when the
    // conformance suite deletes a test's route and the next test creates one of the same name.
    const { provider, until } = await startProvider(env, { debounceMs: 300 });
    const path = pathFor(provider, 'HTTPRoute', env.ns, 'same-name');
    const body = (value: string) => ({
      apiVersion: provider.resource('HTTPRoute')!.apiVersion,
      kind: 'HTTPRoute',
      metadata: { name: 'same-name' },
      spec: { parentRefs: [{ name: 'gw' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value } }] }] },
    });
    const first = await env.admin.request('POST', pathFor(provider, 'HTTPRoute', env.ns), { body: body('/first') });
    await until('the first route', (s) => get(s, 'HTTPRoute', `${env.ns}/same-name`)?.metadata.uid === first.metadata.uid);
    await env.admin.request('DELETE', path);
    const second = await env.admin.request('POST', pathFor(provider, 'HTTPRoute', env.ns), { body: body('/second') });
    assert.equal(second.metadata.generation, first.metadata.generation, 'both are generation 1');
    const snap = await until('the second route', (s) => get(s, 'HTTPRoute', `${env.ns}/same-name`)?.metadata.uid === second.metadata.uid);
    assert.equal((get(snap, 'HTTPRoute', `${env.ns}/same-name`)!.spec as any).rules[0].matches[0].path.value, '/second');
  } finally {
    await teardown(env);
  }
});

/** Creates an object as the admin and returns it as stored. */
async function make(env: Env, provider: KubernetesProvider, kind: SnapshotKind, body: Record<string, any>): Promise<KubeObject> {
  const r = provider.resource(kind)!;
  return env.admin.request('POST', resourcePath(r, r.namespaced ? env.ns : undefined), { body: { apiVersion: r.apiVersion, kind, ...body } });
}

/** Sets the whole status as another controller would (admin PUT to /status). */
async function putStatus(env: Env, provider: KubernetesProvider, kind: SnapshotKind, name: string, status: Record<string, unknown>): Promise<KubeObject> {
  const r = provider.resource(kind)!;
  const path = resourcePath(r, r.namespaced ? env.ns : undefined, name);
  const current = await env.admin.request('GET', path);
  return env.admin.request('PUT', `${path}/status`, { body: { ...current, status } });
}

const cond = (type: string, status: string, reason: string, extra: Record<string, unknown> = {}) =>
  ({ type, status, reason, message: `${reason}.`, lastTransitionTime: T0, ...extra });

test('status writer: own conditions and parents only, observedGeneration, no-op writes, stale generations, conflicts', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const env = await setup(conn);
  try {
    const { provider, until } = await startProvider(env);
    const gcName = uniq('gc');
    env.cleanup.push(() => remove(env.admin, pathFor(provider, 'GatewayClass', undefined, gcName)));
    await make(env, provider, 'GatewayClass', { metadata: { name: gcName }, spec: { controllerName: env.controllerName } });
    await make(env, provider, 'Gateway', { metadata: { name: 'gw' }, spec: { gatewayClassName: gcName, listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } });
    await make(env, provider, 'HTTPRoute', { metadata: { name: 'r' }, spec: { parentRefs: [{ name: 'gw' }, { name: 'theirs' }] } });
    const OTHER = 'example.com/other';
    await putStatus(env, provider, 'Gateway', 'gw', { conditions: [cond('example.com/Healthy', 'True', 'Fine', { observedGeneration: 1 })] });
    const theirParent = { parentRef: { group: GW, kind: 'Gateway', name: 'theirs' }, controllerName: OTHER, conditions: [cond('Accepted', 'True', 'Accepted', { observedGeneration: 1 })] };
    await putStatus(env, provider, 'HTTPRoute', 'r', { parents: [theirParent] });
    // Status-only changes do not make a new snapshot; the informer cache has them.
    const cachedStatus = (kind: SnapshotKind, name: string) => provider.cached(kind, `${env.ns}/${name}`)?.status as any;
    await eventually("the other controller's status in the cache", () => cachedStatus('HTTPRoute', 'r')?.parents?.length === 1 && cachedStatus('Gateway', 'gw')?.conditions?.length === 1);
    const snap = await until('all three objects', (s) => !!get(s, 'GatewayClass', gcName) && !!get(s, 'Gateway', `${env.ns}/gw`) && !!get(s, 'HTTPRoute', `${env.ns}/r`));

    const logs: string[] = [];
    const writer = new StatusWriter(provider, { controllerName: env.controllerName, log: (l) => logs.push(l) });
    const statusesFor = (s: Snapshot): OwnedStatus[] => {
      const gc = get(s, 'GatewayClass', gcName)!;
      const gw = get(s, 'Gateway', `${env.ns}/gw`)!;
      const route = get(s, 'HTTPRoute', `${env.ns}/r`)!;
      return [
        { key: `GatewayClass/${gcName}`, object: gc, status: { conditions: [cond('Accepted', 'True', 'Accepted', { observedGeneration: gc.metadata.generation })] } },
        { key: `Gateway/${env.ns}/gw`, object: gw, status: {
          conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')],
          listeners: [{ name: 'http', attachedRoutes: 1, supportedKinds: [{ group: GW, kind: 'HTTPRoute' }], conditions: [cond('Accepted', 'True', 'Accepted')] }],
        } },
        { key: `HTTPRoute/${env.ns}/r`, object: route, status: { parents: [{ parentRef: { name: 'gw' }, controllerName: env.controllerName, conditions: [cond('Accepted', 'True', 'Accepted')] }] } },
      ];
    };
    assert.deepEqual(await writer.write(statusesFor(snap)), { written: 3, unchanged: 0, skipped: 0, failed: 0 }, logs.join('\n'));

    const gwPath = pathFor(provider, 'Gateway', env.ns, 'gw');
    const routePath = pathFor(provider, 'HTTPRoute', env.ns, 'r');
    let gw = await env.admin.request('GET', gwPath);
    assert.deepEqual(gw.status.conditions.map((c: any) => [c.type, c.status, c.observedGeneration]), [['example.com/Healthy', 'True', 1], ['Accepted', 'True', 1], ['Programmed', 'True', 1]]);
    assert.equal(gw.status.listeners[0].conditions[0].observedGeneration, 1);
    let route = await env.admin.request('GET', routePath);
    assert.equal(route.status.parents.length, 2);
    assert.deepEqual(route.status.parents[0], theirParent, "the other controller's entry is untouched");
    assert.equal(route.status.parents[1].controllerName, env.controllerName);
    assert.equal(route.status.parents[1].conditions[0].observedGeneration, 1);

    // Same statuses again, once the informer has seen the writes: nothing is written.
    const rvBefore = gw.metadata.resourceVersion;
    await eventually('our writes in the cache', () => cachedStatus('Gateway', 'gw')?.conditions?.length === 3 && cachedStatus('HTTPRoute', 'r')?.parents?.length === 2);
    const seen = snap;
    // A later snapshot hands over the same instance for an object whose status alone changed
    // (translation caches by identity).
    await env.admin.request('POST', `/api/v1/namespaces/${env.ns}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nudge' } } });
    const nudged = await until('a later snapshot', (s) => !!get(s, 'ConfigMap', `${env.ns}/nudge`));
    assert.equal(get(nudged, 'Gateway', `${env.ns}/gw`), get(snap, 'Gateway', `${env.ns}/gw`));
    assert.deepEqual(await writer.write(statusesFor(seen)), { written: 0, unchanged: 3, skipped: 0, failed: 0 });
    assert.equal((await env.admin.request('GET', gwPath)).metadata.resourceVersion, rvBefore);

    // A spec change: status computed from generation 1 is not written over generation 2.
    await env.admin.request('PATCH', gwPath, { body: { spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] } }, contentType: 'application/merge-patch+json' });
    const gen2 = await until('generation 2 in the cache', (s) => get(s, 'Gateway', `${env.ns}/gw`)?.metadata.generation === 2);
    assert.deepEqual(await writer.write(statusesFor(seen)), { written: 0, unchanged: 2, skipped: 1, failed: 0 }, 'the stale Gateway status is skipped');
    const fresh = statusesFor(gen2);
    assert.equal((await writer.write(fresh)).written, 1, 'the Gateway, now at generation 2');
    // Right after a write, before the informer has caught up, the same status is not written again.
    assert.equal((await writer.write(fresh)).written, 0);
    gw = await env.admin.request('GET', gwPath);
    assert.deepEqual(gw.status.conditions.map((c: any) => c.observedGeneration), [1, 2, 2], "ours at 2, the other's untouched");

    // Conflict: the writer merges against an outdated copy; the API server answers 409, the writer
    // re-reads, merges again and keeps the change made in between.
    const outdated = structuredClone(provider.cached('HTTPRoute', `${env.ns}/r`)!);
    const theirs2 = { ...theirParent, conditions: [cond('Accepted', 'False', 'NotAllowedByListeners', { observedGeneration: 1 })] };
    route = await env.admin.request('GET', routePath);
    await env.admin.request('PUT', `${routePath}/status`, { body: { ...route, status: { parents: [theirs2, route.status.parents[1]] } } });
    const staleSource: StatusSource = {
      client: provider.client,
      resource: (k) => provider.resource(k),
      cachedObjects: (k) => provider.cachedObjects(k),
      cached: (k, key) => (k === 'HTTPRoute' ? outdated : provider.cached(k, key)),
    };
    const conflicted = new StatusWriter(staleSource, { controllerName: env.controllerName });
    const routeStatus = statusesFor(gen2).filter((s) => s.object.kind === 'HTTPRoute');
    routeStatus[0].status = { parents: [{ parentRef: { name: 'gw' }, controllerName: env.controllerName, conditions: [cond('Accepted', 'True', 'Accepted'), cond('ResolvedRefs', 'True', 'ResolvedRefs')] }] };
    assert.deepEqual(await conflicted.write(routeStatus), { written: 1, unchanged: 0, skipped: 0, failed: 0 });
    route = await env.admin.request('GET', routePath);
    assert.deepEqual(route.status.parents[0], theirs2, 'the change made in between survived');
    assert.equal(route.status.parents[1].conditions.length, 2);

    // The route leaves translate()'s results: our entry is removed, theirs stays.
    await eventually('the route update in the cache', () => cachedStatus('HTTPRoute', 'r')?.parents?.[1]?.conditions?.length === 2);
    const report = await writer.write(statusesFor(gen2).filter((s) => s.object.kind !== 'HTTPRoute'));
    assert.equal(report.failed, 0);
    route = await env.admin.request('GET', routePath);
    assert.deepEqual(route.status.parents, [theirs2]);
  } finally {
    await teardown(env);
  }
});

test('leader election: one leader; a follower takes over after the leader is killed, at once after a clean stop', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const env = await setup(conn);
  const lease = uniq('lease');
  const leaseSeconds = 3;
  const child = spawn(process.execPath, [join(import.meta.dirname, 'provider-kubernetes-leader-child.ts'), conn.source, env.ns, lease, 'first', String(leaseSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let childOut = '';
  child.stdout.on('data', (c) => { childOut += c; });
  const electors: LeaderElector[] = [];
  const elector = (identity: string) => {
    const e = new LeaderElector(new KubeClient(conn), { namespace: env.ns, name: lease, identity, leaseDurationSeconds: leaseSeconds, renewIntervalMs: 300, retryIntervalMs: 300 });
    electors.push(e);
    e.start();
    return e;
  };
  try {
    await eventually('the child process to lead', () => childOut.includes('LEADING'), 15_000);
    const second = elector('second');
    // The second's status writer: a GatewayClass to write status for.
    const { provider, until } = await startProvider(env);
    const gcName = uniq('gc');
    env.cleanup.push(() => remove(env.admin, pathFor(provider, 'GatewayClass', undefined, gcName)));
    await make(env, provider, 'GatewayClass', { metadata: { name: gcName }, spec: { controllerName: env.controllerName } });
    const snap = await until('the GatewayClass', (s) => !!get(s, 'GatewayClass', gcName));
    const writer = new StatusWriter(provider, { controllerName: env.controllerName, isLeader: () => second.isLeader });
    const accepted: OwnedStatus[] = [{ key: `GatewayClass/${gcName}`, object: get(snap, 'GatewayClass', gcName)!, status: { conditions: [cond('Accepted', 'True', 'Accepted')] } }];
    // While the first renews, the second never leads (several lease durations) and writes nothing.
    const watchUntil = Date.now() + leaseSeconds * 1000 + 1500;
    while (Date.now() < watchUntil) {
      assert.equal(second.isLeader, false);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await writer.write(accepted), { written: 0, unchanged: 0, skipped: 1, failed: 0 });
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await eventually('the second to take over', () => second.isLeader, (leaseSeconds + 3) * 1000);
    const took = Date.now() - killedAt;
    assert.ok(took <= (leaseSeconds + 2) * 1000, `took over ${took} ms after the kill (lease ${leaseSeconds} s)`);
    const stored = await env.admin.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${env.ns}/leases/${lease}`);
    assert.equal(stored.spec.holderIdentity, 'second');
    assert.equal(stored.spec.leaseTransitions, 1);
    assert.deepEqual(await writer.write(accepted), { written: 1, unchanged: 0, skipped: 0, failed: 0 }, 'the new leader writes');

    // A clean stop releases the lease: the next candidate does not wait for it to expire.
    const third = elector('third');
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(third.isLeader, false);
    const stoppedAt = Date.now();
    await second.stop();
    await eventually('the third to take over', () => third.isLeader, 5_000);
    // Without the release it could not happen before the lease runs out (~3 s after the last renew).
    assert.ok(Date.now() - stoppedAt < 2500, 'released, not expired');
  } finally {
    child.kill('SIGKILL');
    for (const e of electors) await e.stop();
    await teardown(env);
  }
});

test('kubernetes provider: watches survive cut connections and an unreachable API server', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const env = await setup(conn);
  const proxy = await CuttableProxy.start(conn.server);
  try {
    const { provider, until } = await startProvider(env, { connection: { ...conn, server: proxy.url }, backoffMaxMs: 1000 });
    const cm = (name: string) => env.admin.request('POST', `/api/v1/namespaces/${env.ns}/configmaps`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: name } } });
    await cm('one');
    await until('one', (s) => !!get(s, 'ConfigMap', `${env.ns}/one`));
    const informer = (provider as any).informers.get('ConfigMap');
    const watchesBefore = informer.stats.watches;

    // Every connection cut, and the API server unreachable for 2 s, as in a restart.
    proxy.cut(2000);
    await cm('two');
    await until('two, after reconnecting', (s) => !!get(s, 'ConfigMap', `${env.ns}/two`), 15_000);
    assert.ok(informer.stats.watches > watchesBefore, 'the watch was re-established');
    assert.ok(informer.stats.errors > 0, 'the interruption was seen as an error');

    await env.admin.request('DELETE', `/api/v1/namespaces/${env.ns}/configmaps/one`);
    await until('one deleted after all that', (s) => !get(s, 'ConfigMap', `${env.ns}/one`));
  } finally {
    await teardown(env);
    await proxy.close();
  }
});

test('kubernetes provider: pool addresses on copies of our Gateways, stable, exhaustion reported', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const env = await setup(conn);
  try {
    const { provider, until } = await startProvider(env, { addressPool: '127.77.0.0/30' });
    const gcName = uniq('gc');
    env.cleanup.push(() => remove(env.admin, pathFor(provider, 'GatewayClass', undefined, gcName)));
    await make(env, provider, 'GatewayClass', { metadata: { name: gcName }, spec: { controllerName: env.controllerName } });
    const gateway = (name: string, extra: Record<string, unknown> = {}) => make(env, provider, 'Gateway', {
      metadata: { name }, spec: { gatewayClassName: gcName, listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }], ...extra },
    });
    await gateway('a');
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has second precision
    await gateway('b');
    await gateway('fixed', { addresses: [{ type: 'IPAddress', value: '127.0.0.5' }] });
    await make(env, provider, 'Gateway', { metadata: { name: 'not-ours' }, spec: { gatewayClassName: 'someone-else', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } });
    const addressOf = (s: Snapshot, name: string) => (get(s, 'Gateway', `${env.ns}/${name}`)?.spec as any)?.addresses;
    const snap = await until('four gateways', (s) => ['a', 'b', 'fixed', 'not-ours'].every((n) => get(s, 'Gateway', `${env.ns}/${n}`)));
    assert.deepEqual(addressOf(snap, 'a'), [{ type: 'IPAddress', value: '127.77.0.1' }]);
    assert.deepEqual(addressOf(snap, 'b'), [{ type: 'IPAddress', value: '127.77.0.2' }]);
    assert.deepEqual(addressOf(snap, 'fixed'), [{ type: 'IPAddress', value: '127.0.0.5' }]);
    assert.equal(addressOf(snap, 'not-ours'), undefined);
    const stored = await env.admin.request('GET', pathFor(provider, 'Gateway', env.ns, 'a'));
    assert.equal(stored.spec.addresses, undefined, 'the cluster object is never changed');

    await gateway('c');
    const exhausted = await until('c without address', (s) => !!get(s, 'Gateway', `${env.ns}/c`));
    assert.deepEqual(addressOf(exhausted, 'c'), [{ type: 'IPAddress', value: '192.0.2.0' }], 'an address no host holds, not --bind-address');
    assert.deepEqual([...provider.unassignedGateways()], [`${env.ns}/c`]);
    assert.ok(exhausted.diagnostics.some((d) => d.where === `Gateway/${env.ns}/c` && /exhausted/.test(d.message)));

    await env.admin.request('DELETE', pathFor(provider, 'Gateway', env.ns, 'a'));
    const after = await until('c gets the freed address', (s) => addressOf(s, 'c')?.[0]?.value !== '192.0.2.0');
    assert.deepEqual(addressOf(after, 'c'), [{ type: 'IPAddress', value: '127.77.0.1' }]);
    assert.deepEqual(addressOf(after, 'b'), [{ type: 'IPAddress', value: '127.77.0.2' }], 'b keeps its address');
  } finally {
    await teardown(env);
  }
});

test('kubernetes provider: API errors are explained, never fatal', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  // A client without credentials: every list is refused (401/403); the error is in the diagnostics of
  // the informers and the provider keeps retrying instead of stopping.
  const logs: string[] = [];
  const provider = new KubernetesProvider({ connection: { ...conn, cert: undefined, key: undefined }, log: (l) => logs.push(l), backoffMaxMs: 500 });
  try {
    const started = provider.reload();
    // The CRD list is refused (and logged) before discovery has started the informers: wait for
    // the Namespace informer itself to have been refused.
    const informer = await eventually('the Namespace list to be refused', () => {
      const i = (provider as any).informers.get('Namespace');
      return i?.stats.errors > 0 && i;
    }, 10_000);
    assert.ok(logs.some((l) => /(401|403)/.test(l)), 'the refusal is logged');
    const errors = informer.stats.errors;
    await eventually('retries', () => informer.stats.errors > errors + 1, 10_000);
    void started.catch(() => {});
  } finally {
    await provider.close();
  }
  assert.ok(!(logs.join('\n').includes('TypeError')));
});
