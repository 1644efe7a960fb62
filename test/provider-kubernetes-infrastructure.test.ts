// GatewayInfrastructure in Kubernetes mode: the Service generated per accepted Gateway
// (src/providers/kubernetes/infrastructure.ts). Naming, ports and merging as units; then against
// the REAL API server (local cluster, with kube-controller-manager's garbage collector): the
// Service carries exactly the Gateway's infrastructure labels and annotations, its ports and an
// ownerReference, follows changes, goes with its Gateway, never touches foreign Services, and a
// replica that is not the leader writes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../src/api/meta.ts';
import type { OwnedStatus } from '../src/translate/index.ts';
import { translate } from '../src/translate/index.ts';
import { KubeClient } from '../src/providers/kubernetes/client.ts';
import {
  CONTROLLER_ANNOTATION, desiredServices, GATEWAY_CLASS_NAME_LABEL, GATEWAY_NAME_LABEL, GatewayServices, generatedServiceName,
  labelValueFor, MANAGED_BY_LABEL, MANAGED_KEYS_ANNOTATION, mergeService, parseSelector,
} from '../src/providers/kubernetes/infrastructure.ts';
import { KubernetesProvider } from '../src/providers/kubernetes/index.ts';
import { KubernetesMode } from '../src/providers/kubernetes/mode.ts';
import { eventually, remove, testCluster, uniq } from './provider-kubernetes-cluster.ts';

const GWV1 = '/apis/gateway.networking.k8s.io/v1';
const SETTINGS = { type: 'ClusterIP' as const, selector: { 'app.kubernetes.io/name': 'portico' } };
const accepted = { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
const rejected = { conditions: [{ type: 'Accepted', status: 'False', reason: 'InvalidParameters', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] };

function gateway(name: string, spec: Record<string, unknown>, uid = `uid-${name}`): KubeObject {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: 'ns', uid }, spec: { gatewayClassName: 'portico', ...spec } };
}
const owned = (object: KubeObject, status: Record<string, unknown>): OwnedStatus => ({ key: `${object.kind}/ns/${object.metadata.name}`, object, status });

test('generated Service names: <gateway>-<class>, else cut to 63 with a hash; label values likewise', () => {
  assert.equal(generatedServiceName('web', 'portico'), 'web-portico');
  const long = generatedServiceName('a'.repeat(60), 'portico');
  assert.equal(long.length, 63);
  assert.match(long, /^a{54}-[0-9a-f]{8}$/);
  assert.notEqual(long, generatedServiceName(`${'a'.repeat(60)}x`, 'portico'), 'the hash keeps long names apart');
  assert.equal(long, generatedServiceName('a'.repeat(60), 'portico'), 'stable');
  assert.match(generatedServiceName('my.gw', 'portico'), /^my-gw-portico-[0-9a-f]{8}$/, 'dots are not allowed in Service names');
  assert.match(generatedServiceName('1gw', 'portico'), /^gw-1gw-portico-[0-9a-f]{8}$/, 'a Service name starts with a letter');
  const max = generatedServiceName('g'.repeat(253), 'c'.repeat(253));
  assert.ok(max.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(max), max);
  assert.equal(labelValueFor('gw'), 'gw');
  const v = labelValueFor(`${'x'.repeat(100)}.y`);
  assert.ok(v.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v), v);
});

test('--gateway-service-selector parses KEY=VALUE pairs and explains mistakes', () => {
  assert.deepEqual(parseSelector('app.kubernetes.io/name=portico, tier=edge'), { 'app.kubernetes.io/name': 'portico', tier: 'edge' });
  assert.throws(() => parseSelector(''), /at least one/);
  assert.throws(() => parseSelector('novalue'), /not KEY=VALUE/);
  assert.throws(() => parseSelector('Bad Prefix/x=y'), /prefix/);
  assert.throws(() => parseSelector('k=-bad-'), /label value/);
});

test('desired Services: accepted Gateways only, one port per port/protocol, ListenerSets, labels and annotations', () => {
  const gw = gateway('gw', {
    infrastructure: { labels: { key2: 'value2', [GATEWAY_NAME_LABEL]: 'spoofed' }, annotations: { key1: 'value1' } },
    listeners: [
      { name: 'a', port: 80, protocol: 'HTTP' }, { name: 'b', port: 80, protocol: 'HTTP', hostname: 'x.example' },
      { name: 'c', port: 443, protocol: 'HTTPS' }, { name: 'd', port: 53, protocol: 'UDP' }, { name: 'e', port: 53, protocol: 'TCP' },
    ],
  });
  const ls: KubeObject = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ListenerSet', metadata: { name: 'ls', namespace: 'ns' }, spec: { parentRef: { name: 'gw' }, listeners: [{ name: 'x', port: 8443, protocol: 'HTTPS' }] } };
  const lsRejected: KubeObject = { ...ls, metadata: { name: 'ls2', namespace: 'ns' }, spec: { parentRef: { name: 'gw' }, listeners: [{ name: 'y', port: 9999, protocol: 'HTTP' }] } };
  const out = desiredServices([owned(gw, accepted), owned(gateway('off', { listeners: [{ name: 'a', port: 80, protocol: 'HTTP' }] }), rejected), owned(ls, accepted), owned(lsRejected, rejected)], SETTINGS, 'portico.dev/x');
  assert.deepEqual([...out.keys()], ['ns/gw-portico']);
  const svc = out.get('ns/gw-portico')!;
  assert.deepEqual((svc.spec as any).ports.map((p: any) => `${p.name}:${p.protocol}/${p.port}->${p.targetPort}`), ['tcp-53:TCP/53->53', 'udp-53:UDP/53->53', 'tcp-80:TCP/80->80', 'tcp-443:TCP/443->443', 'tcp-8443:TCP/8443->8443']);
  assert.deepEqual((svc.spec as any).selector, SETTINGS.selector);
  assert.equal((svc.spec as any).type, 'ClusterIP');
  assert.deepEqual(svc.metadata.labels, { key2: 'value2', [GATEWAY_NAME_LABEL]: 'gw', [GATEWAY_CLASS_NAME_LABEL]: 'portico', [MANAGED_BY_LABEL]: 'portico' }, 'the well-known labels cannot be spoofed');
  assert.equal(svc.metadata.annotations!.key1, 'value1');
  assert.equal(svc.metadata.annotations![CONTROLLER_ANNOTATION], 'portico.dev/x');
  assert.deepEqual(svc.metadata.ownerReferences, [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'gw', uid: 'uid-gw', controller: true }]);

  // Being deleted: no Service. Names that join alike: the first keeps it.
  const l80 = { listeners: [{ name: 'a', port: 80, protocol: 'HTTP' }] };
  const deleting = gateway('gone', l80);
  deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
  assert.equal(desiredServices([owned(deleting, accepted)], SETTINGS, 'c').size, 0);
  const a = { ...gateway('a-b', l80), spec: { gatewayClassName: 'c', ...l80 } };
  const b = { ...gateway('a', l80), spec: { gatewayClassName: 'b-c', ...l80 } };
  const clash = desiredServices([owned(b, accepted), owned(a, accepted)], SETTINGS, 'c');
  assert.deepEqual([...clash.keys()], ['ns/a-b-c']);
  assert.equal(clash.get('ns/a-b-c')!.metadata.labels![GATEWAY_NAME_LABEL], 'a');
});

test('merging into a generated Service: keys others added stay, keys the Gateway dropped go, no-op when equal', () => {
  const want = (labels: Record<string, string>) => desiredServices([owned(gateway('gw', { infrastructure: { labels }, listeners: [{ name: 'a', port: 80, protocol: 'HTTP' }] }), accepted)], { ...SETTINGS, type: 'NodePort' }, 'c').get('ns/gw-portico')!;
  const first = want({ team: 'a', keep: 'yes' });
  // As the API server stores it: defaults and allocated values, plus another party's label.
  const stored: KubeObject = structuredClone({
    ...first,
    metadata: { ...first.metadata, resourceVersion: '5', labels: { ...first.metadata.labels, other: 'theirs' } },
    spec: { ...(first.spec as any), clusterIP: '10.0.0.9', ports: [{ ...(first.spec as any).ports[0], nodePort: 30080 }], sessionAffinity: 'None' },
  });
  assert.equal(mergeService({ ...stored, metadata: { ...stored.metadata, labels: { ...first.metadata.labels, other: 'theirs' } } }, first), undefined, 'nothing to write');
  const merged = mergeService(stored, want({ keep: 'yes' }))!;
  assert.ok(merged);
  assert.equal(merged.metadata.labels!.team, undefined, 'removed from the Gateway, removed from the Service');
  assert.equal(merged.metadata.labels!.other, 'theirs');
  assert.equal(merged.metadata.resourceVersion, '5', 'written against the version read');
  assert.equal((merged.spec as any).clusterIP, '10.0.0.9');
  assert.equal((merged.spec as any).ports[0].nodePort, 30080, 'node ports are kept');
  assert.ok(JSON.parse(merged.metadata.annotations![MANAGED_KEYS_ANNOTATION]).labels.includes('keep'));
});

test('kubernetes mode: a Service per accepted Gateway, kept in line, removed, foreign ones untouched, only by the leader', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const admin = new KubeClient(conn);
  const ns = uniq('pk-infra');
  const className = uniq('infra');
  const controllerName = `portico.dev/${uniq('infra')}`;
  const logs: string[] = [];
  let mode: KubernetesMode | undefined;
  let provider: KubernetesProvider | undefined;
  const svcPath = (name = '') => `/api/v1/namespaces/${ns}/services${name ? `/${name}` : ''}`;
  const getSvc = async (name: string) => admin.request('GET', svcPath(name)).catch(() => undefined);
  const fail = (msg: string) => `${msg}\n--- log ---\n${logs.slice(-20).join('\n')}`;
  try {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    await admin.request('POST', `${GWV1}/gatewayclasses`, { body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: className }, spec: { controllerName } } });
    const makeGateway = (name: string, infrastructure: Record<string, unknown>, listeners: unknown[]) => admin.request('POST', `${GWV1}/namespaces/${ns}/gateways`, { body: {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name }, spec: { gatewayClassName: className, infrastructure, listeners },
    } });
    const gw = await makeGateway('gw', { labels: { key2: 'value2', team: 'a' }, annotations: { key1: 'value1' } },
      [{ name: 'http', port: 8080, protocol: 'HTTP' }, { name: 'dns', port: 5353, protocol: 'UDP' }]);
    const gwB = await makeGateway('gw-b', {}, [{ name: 'http', port: 80, protocol: 'HTTP' }]);
    // Foreign Services: one with our labels (not generated by us), one in the way of Gateway "blocked".
    const foreignSpec = { ports: [{ name: 'x', port: 1, protocol: 'TCP' }], selector: { app: 'theirs' } };
    const lookalike = await admin.request('POST', svcPath(), { body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'lookalike', labels: { [GATEWAY_NAME_LABEL]: 'gw', [GATEWAY_CLASS_NAME_LABEL]: className, [MANAGED_BY_LABEL]: 'portico' } }, spec: foreignSpec } });
    const inTheWay = await admin.request('POST', svcPath(), { body: { apiVersion: 'v1', kind: 'Service', metadata: { name: `blocked-${className}` }, spec: foreignSpec } });
    await makeGateway('blocked', {}, [{ name: 'http', port: 80, protocol: 'HTTP' }]);

    let m!: KubernetesMode;
    const statusesNow = () => translate(m.provider.snapshot(), { now: '2026-01-01T00:00:00Z', controllerName }).statuses;
    mode = m = new KubernetesMode({
      connection: conn, controllerName, log: (l) => logs.push(l), statusDebounceMs: 5, statuses: statusesNow,
      lease: { namespace: ns, name: 'portico-leader', leaseDurationSeconds: 5, renewIntervalMs: 500, retryIntervalMs: 500 },
    });
    m.provider.watch(() => m.statusChanged());
    m.start();
    await m.provider.reload();
    m.statusChanged();

    const name = `gw-${className}`;
    const svc = await eventually('the generated Service', () => getSvc(name), 20_000).catch((e) => assert.fail(fail(e.message)));
    assert.deepEqual(svc.metadata.labels, { key2: 'value2', team: 'a', [GATEWAY_NAME_LABEL]: 'gw', [GATEWAY_CLASS_NAME_LABEL]: className, [MANAGED_BY_LABEL]: 'portico' });
    assert.deepEqual(Object.keys(svc.metadata.annotations).sort(), ['key1', MANAGED_KEYS_ANNOTATION, CONTROLLER_ANNOTATION].sort());
    assert.equal(svc.metadata.annotations.key1, 'value1');
    assert.deepEqual(svc.metadata.ownerReferences, [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'gw', uid: gw.metadata.uid, controller: true }]);
    assert.equal(svc.spec.type, 'ClusterIP');
    assert.deepEqual(svc.spec.selector, { 'app.kubernetes.io/name': 'portico' });
    assert.deepEqual(svc.spec.ports.map((p: any) => [p.name, p.protocol, p.port, p.targetPort]), [['udp-5353', 'UDP', 5353, 5353], ['tcp-8080', 'TCP', 8080, 8080]]);
    const svcB = await eventually('the second Gateway\'s Service', () => getSvc(`gw-b-${className}`), 10_000);
    assert.equal(svcB.metadata.ownerReferences[0].uid, gwB.metadata.uid);
    // The conformance test's query: generated objects by the gateway-name label.
    const byLabel = await admin.request('GET', svcPath(), { query: { labelSelector: `${GATEWAY_NAME_LABEL}=gw` } });
    assert.deepEqual(byLabel.items.map((s: any) => s.metadata.name).sort(), ['lookalike', name].sort());

    // Settled: nothing more is written (no write without a change).
    await eventually('the informer to see our writes', () => m.provider.cached('Service', `${ns}/${name}`) && m.provider.cached('Service', `${ns}/gw-b-${className}`));
    await m.settled();
    const rv = (await getSvc(name)).metadata.resourceVersion;
    const report = await m.services!.reconcile(statusesNow());
    assert.equal(report.created + report.updated + report.deleted + report.failed, 0, JSON.stringify(report));
    assert.equal(report.unchanged, 2);
    assert.equal((await getSvc(name)).metadata.resourceVersion, rv);

    // Another party adds a label; the Gateway drops "team" and changes key2: ours follow, theirs stay.
    await admin.request('PATCH', svcPath(name), { body: { metadata: { labels: { other: 'theirs' } } }, contentType: 'application/merge-patch+json' });
    await admin.request('PATCH', `${GWV1}/namespaces/${ns}/gateways/gw`, { body: { spec: { infrastructure: { labels: { key2: 'value3', team: null }, annotations: { key3: 'v' } } } }, contentType: 'application/merge-patch+json' });
    const updated = await eventually('the labels to follow the Gateway', async () => {
      const s = await getSvc(name);
      return s?.metadata.labels.key2 === 'value3' ? s : undefined;
    }, 10_000).catch((e) => assert.fail(fail(e.message)));
    assert.deepEqual(updated.metadata.labels, { key2: 'value3', other: 'theirs', [GATEWAY_NAME_LABEL]: 'gw', [GATEWAY_CLASS_NAME_LABEL]: className, [MANAGED_BY_LABEL]: 'portico' });
    assert.equal(updated.metadata.annotations.key3, 'v');
    assert.equal(updated.metadata.uid, svc.metadata.uid, 'updated in place');
    assert.equal(updated.spec.clusterIP, svc.spec.clusterIP);

    // A change to its spec is put back.
    await admin.request('PATCH', svcPath(name), { body: { spec: { selector: { app: 'elsewhere' } } }, contentType: 'application/merge-patch+json' });
    await eventually('the selector put back', async () => JSON.stringify((await getSvc(name))?.spec.selector) === JSON.stringify({ 'app.kubernetes.io/name': 'portico' }), 10_000)
      .catch((e) => assert.fail(fail(e.message)));

    // Gateway gw-b is no longer accepted (a parametersRef that does not resolve): Portico removes
    // its Service (the garbage collector would not: the Gateway still exists).
    await admin.request('PATCH', `${GWV1}/namespaces/${ns}/gateways/gw-b`, { body: { spec: { infrastructure: { parametersRef: { group: 'invalid.io', kind: 'Nope', name: 'x' } } } }, contentType: 'application/merge-patch+json' });
    await eventually('the rejected Gateway\'s Service to go', async () => (await getSvc(`gw-b-${className}`)) === undefined, 10_000).catch((e) => assert.fail(fail(e.message)));
    const gwBNow = await admin.request('GET', `${GWV1}/namespaces/${ns}/gateways/gw-b`);
    assert.ok(gwBNow, 'the Gateway itself stays');

    // The Gateway is deleted: its Service goes (Portico's clean-up or the garbage collector).
    await admin.request('DELETE', `${GWV1}/namespaces/${ns}/gateways/gw`);
    await eventually('the deleted Gateway\'s Service to go', async () => (await getSvc(name)) === undefined, 30_000).catch((e) => assert.fail(fail(e.message)));

    // Foreign Services were never touched; the blocked Gateway got no Service and a log line.
    assert.equal((await getSvc('lookalike')).metadata.resourceVersion, lookalike.metadata.resourceVersion);
    assert.equal((await getSvc(`blocked-${className}`)).metadata.resourceVersion, inTheWay.metadata.resourceVersion);
    assert.ok(logs.some((l) => l.includes(`blocked-${className}`) && l.includes('not generated by Portico')), fail('the blocked Service is explained'));

    // A replica that does not lead writes nothing, whatever it is asked.
    await m.close();
    mode = undefined;
    await makeGateway('follower-test', {}, [{ name: 'http', port: 81, protocol: 'HTTP' }]);
    provider = new KubernetesProvider({ connection: conn, controllerName, log: (l) => logs.push(l) });
    await provider.reload();
    const p = provider;
    const snapshotWith = await eventually('the new Gateway in a snapshot', () => p.snapshot().objects.get('Gateway')?.get(`${ns}/follower-test`) && p.snapshot());
    const follower = new GatewayServices(provider, { ...SETTINGS, controllerName, isLeader: () => false, log: (l) => logs.push(l) });
    const statuses = translate(snapshotWith, { now: '2026-01-01T00:00:00Z', controllerName }).statuses;
    assert.ok(desiredServices(statuses, SETTINGS, controllerName).has(`${ns}/follower-test-${className}`));
    const followerReport = await follower.reconcile(statuses);
    assert.equal(followerReport.created + followerReport.updated + followerReport.deleted, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await getSvc(`follower-test-${className}`), undefined, 'no Service from a follower');
    // Without the right to write Services (an older ClusterRole): said once, skipped, not fatal.
    await admin.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'norights' } } });
    const token = (await admin.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/norights/token`, { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } } })).status.token as string;
    const noRights = new KubeClient({ ...conn, cert: undefined, key: undefined, token: () => token });
    const deniedLogs: string[] = [];
    const denied = new GatewayServices({ client: noRights, cached: (k, key) => p.cached(k, key), cachedObjects: (k) => p.cachedObjects(k) }, { ...SETTINGS, controllerName, log: (l) => deniedLogs.push(l) });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await denied.reconcile(statuses);
        assert.deepEqual([r.created, r.failed, r.skipped > 0], [0, 0, true], JSON.stringify(r));
      }
      assert.equal(deniedLogs.filter((l) => l.includes('deploy/10-rbac.yaml')).length, 1, deniedLogs.join('\n'));
    } finally {
      denied.stop();
      noRights.close();
    }
    // ... and the same results, leading, do create it.
    const leading = new GatewayServices(provider, { ...SETTINGS, controllerName, log: (l) => logs.push(l) });
    assert.equal((await leading.reconcile(statuses)).created, 1);
    const ft = await getSvc(`follower-test-${className}`);
    assert.ok(ft);
    // --gateway-service-type changes are accepted by the API server, in place, both ways.
    for (const type of ['NodePort', 'LoadBalancer', 'ClusterIP'] as const) {
      const before = (await getSvc(`follower-test-${className}`)).metadata.resourceVersion;
      await eventually('the cache to hold the last write', () => p.cached('Service', `${ns}/follower-test-${className}`)?.metadata.resourceVersion === before);
      const r = await new GatewayServices(provider, { ...SETTINGS, type, controllerName, log: (l) => logs.push(l) }).reconcile(statuses);
      assert.equal(r.updated, 1, fail(`to ${type}: ${JSON.stringify(r)}`));
      const now = await getSvc(`follower-test-${className}`);
      assert.equal(now.spec.type, type);
      assert.equal(now.metadata.uid, ft.metadata.uid);
      if (type !== 'ClusterIP') assert.ok(now.spec.ports[0].nodePort > 0);
      else assert.equal(now.spec.ports[0].nodePort, undefined);
    }
  } finally {
    await mode?.close();
    await provider?.close();
    await remove(admin, `${GWV1}/gatewayclasses/${className}`).catch(() => {});
    await remove(admin, `/api/v1/namespaces/${ns}`).catch(() => {});
    admin.close();
  }
});
