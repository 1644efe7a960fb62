// deploy/: the manifests are what we say they are (least privilege, 2 replicas, probes, the
// GatewayClass), the real API server accepts them (server-side dry run), and Portico can do its
// whole job with exactly the permissions they grant, and nothing more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONTROLLER_NAME } from '../src/api/meta.ts';
import { SNAPSHOT_KINDS } from '../src/providers/snapshot.ts';
import { KubeApiError, KubeClient } from '../src/providers/kubernetes/client.ts';
import { coreResource, CRD_GROUPS } from '../src/providers/kubernetes/discovery.ts';
import { KubernetesProvider } from '../src/providers/kubernetes/index.ts';
import { LeaderElector } from '../src/providers/kubernetes/leader.ts';
import { isStatusKind } from '../src/providers/kubernetes/status-merge.ts';
import { StatusWriter } from '../src/providers/kubernetes/status-writer.ts';
import { GatewayServices, generatedServiceName } from '../src/providers/kubernetes/infrastructure.ts';
import { create, eventually, remove, testCluster, uniq } from './provider-kubernetes-cluster.ts';

const DEPLOY = join(import.meta.dirname, '..', 'deploy');

function manifests(): any[] {
  return readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) => {
    const docs = parseAllDocuments(readFileSync(join(DEPLOY, f), 'utf8'));
    return (Array.isArray(docs) ? docs : []).map((d) => {
      assert.deepEqual(d.errors, [], `${f} parses`);
      return d.toJS();
    }).filter(Boolean);
  });
}

const find = (kind: string, name?: string) => manifests().find((o) => o.kind === kind && (!name || o.metadata.name === name));

/** Plural resource name of each kind Portico reads (what discovery finds on a real server). */
function pluralOf(kind: string): string {
  const core = coreResource(kind as (typeof SNAPSHOT_KINDS)[number]);
  if (core) return core.plural;
  const lower = kind.toLowerCase();
  if (lower.endsWith('policy')) return `${lower.slice(0, -1)}ies`;
  return lower.endsWith('s') ? `${lower}es` : `${lower}s`;
}

function groupOf(kind: string): string {
  return coreResource(kind as (typeof SNAPSHOT_KINDS)[number])?.group ?? CRD_GROUPS[kind as (typeof SNAPSHOT_KINDS)[number]]!;
}

test('deploy: RBAC reads every kind Portico watches and writes only status, generated Services and its lease', () => {
  const role = find('ClusterRole', 'portico');
  const allows = (group: string, resource: string, verb: string) =>
    role.rules.some((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
  for (const kind of SNAPSHOT_KINDS) {
    for (const verb of ['get', 'list', 'watch']) assert.ok(allows(groupOf(kind), pluralOf(kind), verb), `${verb} ${kind}`);
    if (isStatusKind(kind)) assert.ok(allows(groupOf(kind), `${pluralOf(kind)}/status`, 'update'), `update ${kind}/status`);
  }
  for (const r of role.rules) {
    assert.ok(!r.apiGroups.includes('*') && !r.resources.includes('*') && !r.verbs.includes('*'), 'no wildcards');
    const writes = r.verbs.filter((v: string) => !['get', 'list', 'watch'].includes(v));
    if (writes.length > 0 && r.resources.includes('services')) {
      // The Services generated per Gateway (GatewayInfrastructure), and nothing else of the core group.
      // POST, PUT and DELETE only (infrastructure.ts): no patch.
      assert.deepEqual([r.apiGroups, r.resources, [...writes].sort()], [[''], ['services'], ['create', 'delete', 'update']]);
    } else if (writes.length > 0) {
      assert.ok(r.resources.every((res: string) => res.endsWith('/status')), `writes only status: ${JSON.stringify(r)}`);
      // The status writer PUTs (status-writer.ts): update, never patch.
      assert.deepEqual(writes.sort(), ['update']);
    }
  }
  const lease = find('Role', 'portico-leader-election');
  assert.equal(lease.metadata.namespace, 'portico-system');
  assert.deepEqual(lease.rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
  assert.equal(find('ClusterRoleBinding', 'portico').subjects[0].name, find('ServiceAccount', 'portico').metadata.name);
});

test('deploy: Deployment with 2 replicas, probes, requests; the GatewayClass is ours', () => {
  const d = find('Deployment', 'portico');
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  assert.equal(pod.serviceAccountName, 'portico');
  const c = pod.containers[0];
  assert.ok(c.args.includes('--kubernetes'));
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(find('GatewayClass').spec.controllerName, CONTROLLER_NAME);
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  assert.match(readme, /CRDs first/);
});

/** Path of an object from its apiVersion/kind (the kinds in deploy/). */
function pathOf(o: any): string {
  const plural: Record<string, string> = {
    Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings',
    Role: 'roles', RoleBinding: 'rolebindings', Deployment: 'deployments', GatewayClass: 'gatewayclasses',
  };
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  return `${base}${ns}/${plural[o.kind]}/${o.metadata.name}`;
}

function apply(client: KubeClient, o: any, dryRun: boolean): Promise<any> {
  return client.request('PATCH', pathOf(o), {
    body: o,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: 'portico-deploy-test', force: true, dryRun: dryRun ? 'All' : undefined },
  });
}

test('deploy: the API server accepts every manifest (server-side dry run)', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const client = new KubeClient(conn);
  try {
    // Namespaced objects need their namespace to exist, even in a dry run.
    await apply(client, find('Namespace'), false);
    for (const o of manifests()) {
      const stored = await apply(client, o, true);
      assert.equal(stored.metadata.name, o.metadata.name, `${o.kind} ${o.metadata.name}`);
    }
  } finally {
    client.close();
  }
});

test('deploy: Portico works with exactly the RBAC of deploy/ (token of its ServiceAccount)', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const admin = new KubeClient(conn);
  const controllerName = `portico.dev/${uniq('deploy-test')}`;
  const className = uniq('deploy-test');
  const leaseName = uniq('deploy-test-lease');
  let provider: KubernetesProvider | undefined;
  let leader: LeaderElector | undefined;
  try {
    for (const o of manifests().filter((x) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(x.kind))) {
      await apply(admin, o, false);
    }
    const tokenRequest = await admin.request('POST', '/api/v1/namespaces/portico-system/serviceaccounts/portico/token', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    });
    const token = tokenRequest.status.token as string;
    const asPortico = { ...conn, cert: undefined, key: undefined, token: () => token, namespace: 'portico-system' };

    await create(admin, '/apis/gateway.networking.k8s.io/v1/gatewayclasses', {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: className }, spec: { controllerName },
    });
    const logs: string[] = [];
    provider = new KubernetesProvider({ connection: asPortico, controllerName, log: (l) => logs.push(l) });
    let snap = provider.snapshot();
    provider.watch((s) => { snap = s; });
    await provider.reload();
    snap = provider.snapshot();
    // A fresh API server may answer 429 while a watch cache initializes: that passes.
    await eventually('every kind listed and watched with the ServiceAccount', () => snap.diagnostics.length === 0, 15_000)
      .catch(() => assert.deepEqual(snap.diagnostics, []));
    assert.ok(snap.objects.get('GatewayClass')!.has(className));

    leader = new LeaderElector(provider.client, { namespace: 'portico-system', name: leaseName, leaseDurationSeconds: 5, renewIntervalMs: 500, retryIntervalMs: 500 });
    leader.start();
    await eventually('the lease', () => leader!.isLeader);

    const writer = new StatusWriter(provider, { controllerName, isLeader: () => leader!.isLeader, log: (l) => logs.push(l) });
    const gc = snap.objects.get('GatewayClass')!.get(className)!;
    const report = await writer.write([{
      key: `GatewayClass/${className}`, object: gc,
      status: { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
    }]);
    assert.deepEqual(report, { written: 1, unchanged: 0, skipped: 0, failed: 0 }, logs.join('\n'));

    // The Service generated for an accepted Gateway: created, updated and deleted with these rights.
    const gwName = uniq('gw');
    const gwObj = await create(admin, '/apis/gateway.networking.k8s.io/v1/namespaces/portico-system/gateways', {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: gwName },
      spec: { gatewayClassName: className, infrastructure: { labels: { a: 'b' } }, listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    });
    const accepted = { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    const services = new GatewayServices(provider, { type: 'ClusterIP', selector: { 'app.kubernetes.io/name': 'portico' }, controllerName, isLeader: () => leader!.isLeader, log: (l) => logs.push(l) });
    const gwStatus = (labels: Record<string, string>) => [{ key: `Gateway/portico-system/${gwName}`, object: { ...gwObj, spec: { ...gwObj.spec, infrastructure: { labels } } }, status: accepted }];
    assert.equal((await services.reconcile(gwStatus({ a: 'b' }))).created, 1, logs.join('\n'));
    const svcPath = `/api/v1/namespaces/portico-system/services/${generatedServiceName(gwName, className)}`;
    await eventually('the Service in the cache', () => provider!.cached('Service', `portico-system/${generatedServiceName(gwName, className)}`));
    assert.equal((await services.reconcile(gwStatus({ a: 'c' }))).updated, 1, logs.join('\n'));
    assert.equal((await admin.request('GET', svcPath)).metadata.labels.a, 'c');
    await eventually('the update in the cache', () => provider!.cached('Service', `portico-system/${generatedServiceName(gwName, className)}`)?.metadata.labels?.a === 'c');
    assert.equal((await services.reconcile([{ key: `GatewayClass/${className}`, object: gc, status: accepted }])).deleted, 1, logs.join('\n'));
    await remove(admin, `/apis/gateway.networking.k8s.io/v1/namespaces/portico-system/gateways/${gwName}`);

    // The lease is released on a clean stop (get + update), as the Role allows.
    await leader.stop();
    const released = await admin.request('GET', `/apis/coordination.k8s.io/v1/namespaces/portico-system/leases/${leaseName}`);
    assert.ok(!released.spec.holderIdentity, 'the lease is released with these rights');

    // ... and nothing more: the spec is out of reach, and no patch anywhere (status and Services
    // are written with PUT, so the verb is not granted).
    const client = new KubeClient(asPortico);
    const forbidden = (err: unknown) => err instanceof KubeApiError && err.status === 403;
    const mergePatch = (path: string, body: unknown) => client.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    try {
      await assert.rejects(mergePatch(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${className}`, { metadata: { labels: { x: 'y' } } }), forbidden);
      await assert.rejects(client.request('DELETE', `/api/v1/namespaces/portico-system/serviceaccounts/portico`), forbidden);
      await assert.rejects(mergePatch(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${className}/status`, { status: { conditions: [] } }), forbidden);
      const foreign = await create(admin, '/api/v1/namespaces/portico-system/services', {
        apiVersion: 'v1', kind: 'Service', metadata: { name: uniq('foreign') }, spec: { ports: [{ port: 80 }] },
      });
      try {
        await assert.rejects(mergePatch(`/api/v1/namespaces/portico-system/services/${foreign.metadata.name}`, { metadata: { labels: { x: 'y' } } }), forbidden);
      } finally {
        await remove(admin, `/api/v1/namespaces/portico-system/services/${foreign.metadata.name}`);
      }
    } finally {
      client.close();
    }
  } finally {
    await leader?.stop();
    await provider?.close();
    await remove(admin, `/apis/gateway.networking.k8s.io/v1/gatewayclasses/${className}`);
    await remove(admin, `/apis/coordination.k8s.io/v1/namespaces/portico-system/leases/${leaseName}`);
    admin.close();
  }
});
