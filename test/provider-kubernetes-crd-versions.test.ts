// The Kubernetes provider reads the Gateway API CRDs' bundle-version annotation (metadata-only
// watch on CustomResourceDefinitions) into snapshot.crdBundleVersions, and translate() reports it
// as GatewayClass SupportedVersion. Against the REAL local cluster (conformance/cluster.ts), whose
// Gateway API CRDs are the v1.6.3 bundle. The cluster is shared: the CRD this test adds to the
// gateway group only ever carries v1.6.x versions, so no other Portico on it changes verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient } from '../src/providers/kubernetes/client.ts';
import { KubernetesProvider } from '../src/providers/kubernetes/index.ts';
import type { Snapshot } from '../src/providers/snapshot.ts';
import { translate } from '../src/translate/index.ts';
import { eventually, remove, testCluster, uniq } from './provider-kubernetes-cluster.ts';

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const ANNOTATION = 'gateway.networking.k8s.io/bundle-version';

/** A minimal CRD (one served version, any fields) in the given group. */
function crd(plural: string, group: string, bundleVersion: string) {
  const kind = plural[0].toUpperCase() + plural.slice(1, -1);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${plural}.${group}`,
      annotations: {
        [ANNOTATION]: bundleVersion,
        // *.k8s.io groups are protected: the API server wants the approval annotation on their
        // CRDs, and the bundle's safe-upgrades policy a channel on updates.
        ...(group.endsWith('.k8s.io') ? { 'api-approved.kubernetes.io': 'unapproved, a Portico test CRD', 'gateway.networking.k8s.io/channel': 'standard' } : {}),
      },
    },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: plural.slice(0, -1), kind, listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  };
}

test('kubernetes provider: Gateway API CRD bundle versions reach the snapshot and GatewayClass SupportedVersion', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const admin = new KubeClient(conn);
  const suffix = uniq('x').slice(2);
  const gatewayCrd = crd(`porticoprobe${suffix}s`, 'gateway.networking.k8s.io', 'v1.6.0');
  const otherCrd = crd(`widget${suffix}s`, 'portico-test.example.com', 'v9.9.9');
  const controllerName = `portico.dev/${uniq('crdver')}`;
  const className = uniq('gc');
  const provider = new KubernetesProvider({ connection: conn, controllerName, log: () => {} });
  try {
    let latest: Snapshot | undefined;
    provider.watch((s) => { latest = s; });
    await provider.reload();
    latest = provider.snapshot();
    const until = (what: string, pred: (s: Snapshot) => boolean) => eventually(what, () => (latest && pred(latest) ? latest : undefined), 20_000);

    // What the cluster has: the provider's view equals the annotations on the CRDs themselves.
    const installed = await admin.request('GET', `${CRDS}/gatewayclasses.gateway.networking.k8s.io`);
    const expected = installed.metadata.annotations?.[ANNOTATION] as string | undefined;
    assert.ok(expected, 'the test cluster installs annotated Gateway API CRDs');
    const versions = latest.crdBundleVersions ?? {};
    assert.equal(versions['gatewayclasses.gateway.networking.k8s.io'], expected);
    assert.equal(versions['httproutes.gateway.networking.k8s.io'], expected);
    for (const name of Object.keys(versions)) assert.match(name, /\.gateway\.networking\.k8s\.io$/, 'only the gateway group counts');

    // translate() turns them into SupportedVersion on a GatewayClass of ours.
    await admin.request('POST', '/apis/gateway.networking.k8s.io/v1/gatewayclasses', {
      body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: className }, spec: { controllerName } },
    });
    const withClass = await until('the GatewayClass', (s) => s.objects.get('GatewayClass')!.has(className));
    const status = translate(withClass, { now: '2026-01-01T00:00:00Z', controllerName }).statuses.find((s) => s.key === `GatewayClass/${className}`)?.status;
    const conditions = (status?.conditions ?? []) as { type: string; status: string; reason: string; message: string }[];
    const supported = conditions.find((c) => c.type === 'SupportedVersion');
    assert.equal(supported?.status, 'True', JSON.stringify(conditions));
    assert.match(supported?.message ?? '', new RegExp(expected.replace(/\./g, '\\.')));
    assert.equal(conditions.find((c) => c.type === 'Accepted')?.status, 'True');

    // The watch follows CRDs: one added to the gateway group appears, its annotation changes,
    // it goes away. A CRD of another group never shows.
    await admin.request('POST', CRDS, { body: otherCrd });
    await admin.request('POST', CRDS, { body: gatewayCrd });
    const added = await until('the added CRD', (s) => s.crdBundleVersions?.[gatewayCrd.metadata.name] === 'v1.6.0');
    assert.equal(added.crdBundleVersions?.[otherCrd.metadata.name], undefined);
    await admin.request('PATCH', `${CRDS}/${gatewayCrd.metadata.name}`, {
      body: { metadata: { annotations: { [ANNOTATION]: 'v1.6.1' } } }, contentType: 'application/merge-patch+json',
    });
    await until('the changed annotation', (s) => s.crdBundleVersions?.[gatewayCrd.metadata.name] === 'v1.6.1');
    await admin.request('DELETE', `${CRDS}/${gatewayCrd.metadata.name}`);
    await until('the CRD gone', (s) => s.crdBundleVersions !== undefined && !(gatewayCrd.metadata.name in s.crdBundleVersions));
  } finally {
    await provider.close();
    await remove(admin, `/apis/gateway.networking.k8s.io/v1/gatewayclasses/${className}`).catch(() => {});
    await remove(admin, `${CRDS}/${gatewayCrd.metadata.name}`).catch(() => {});
    await remove(admin, `${CRDS}/${otherCrd.metadata.name}`).catch(() => {});
    admin.close();
  }
});
