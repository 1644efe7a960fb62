// The local cluster (conformance/cluster.ts): a real etcd + kube-apiserver + controller-manager +
// scheduler started as plain processes, with the Gateway API v1.6.3 experimental CRDs installed.
// Objects written through the API come back as stored, and the CRDs' own validation is live.
//
// Slow on a cold machine (go build of Kubernetes); set PORTICO_SKIP_CLUSTER=1 to skip.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { goAvailable } from '../conformance/lib/build.ts';
import { KubeClient, KubeError } from '../conformance/lib/kube.ts';
import { acquire } from '../conformance/cluster.ts';

const skip = process.env.PORTICO_SKIP_CLUSTER === '1' ? 'PORTICO_SKIP_CLUSTER=1' : !(await goAvailable()) ? 'go is not installed' : undefined;
if (skip) process.stderr.write(`\n!!! test/cluster.test.ts SKIPPED (${skip}): the local Kubernetes cluster is NOT tested !!!\n\n`);

const GW = 'gateway.networking.k8s.io/v1';
let client: KubeClient;
let release: (() => Promise<void>) | undefined;

before(async () => {
  if (skip) return;
  const cluster = await acquire();
  release = cluster.release;
  client = KubeClient.fromKubeconfig(cluster.kubeconfig);
}, { timeout: 60 * 60_000 });

after(async () => {
  client?.close();
  await release?.();
});

test('a GatewayClass and an HTTPRoute round-trip through the API server', { skip, timeout: 60_000 }, async () => {
  const name = `cluster-test-${process.pid}`;
  const gc = await client.apply({
    apiVersion: GW,
    kind: 'GatewayClass',
    metadata: { name },
    spec: { controllerName: 'portico.dev/gateway-controller' },
  });
  assert.equal(gc.spec.controllerName, 'portico.dev/gateway-controller');
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await client.apply({
    apiVersion: GW,
    kind: 'HTTPRoute',
    metadata: { name: 'route', namespace: name },
    spec: {
      parentRefs: [{ name: 'gw' }],
      hostnames: ['example.com'],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/app' } }], backendRefs: [{ name: 'svc', port: 8080 }] }],
    },
  });
  const route = await client.get(`/apis/gateway.networking.k8s.io/v1/namespaces/${name}/httproutes/route`);
  assert.deepEqual(route.spec.hostnames, ['example.com']);
  assert.equal(route.spec.rules[0].matches[0].path.value, '/app');
  // CRD defaulting ran: the parentRef got its group and kind.
  assert.equal(route.spec.parentRefs[0].kind, 'Gateway');
  assert.equal(route.spec.parentRefs[0].group, 'gateway.networking.k8s.io');
  const readBack = await client.get(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${name}`);
  assert.equal(readBack.metadata.uid, gc.metadata.uid);

  await client.delete(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${name}`);
  await client.delete(`/api/v1/namespaces/${name}`);
});

test('the CRD schema rejects an invalid HTTPRoute', { skip, timeout: 60_000 }, async () => {
  await assert.rejects(
    client.create({
      apiVersion: GW,
      kind: 'HTTPRoute',
      metadata: { name: 'bad', namespace: 'default' },
      spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: 'no-leading-slash' } }] }] },
    }),
    (e: unknown) => e instanceof KubeError && e.status === 422,
  );
});
