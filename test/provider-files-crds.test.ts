// File mode: Gateway API CustomResourceDefinitions among the manifests give the snapshot its
// crdBundleVersions (GatewayClass SupportedVersion); CRDs of other groups and plain manifests
// give none. Edits to a CRD file alone publish a new snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileProvider } from '../src/providers/files/index.ts';

const crd = (plural: string, group: string, version?: string) => `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
${version === undefined ? '' : `  annotations: {gateway.networking.k8s.io/bundle-version: ${version}}\n`}spec: {group: ${group}, scope: Namespaced, names: {plural: ${plural}, kind: X}}
`;

const gatewayClass = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
`;

test('file mode: Gateway API CRDs among the manifests set crdBundleVersions', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-crds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'class.yaml'), gatewayClass);
  const logged: string[] = [];
  const p = new FileProvider({ paths: [dir], log: (l) => logged.push(l) });

  await p.reload();
  assert.equal(p.snapshot().crdBundleVersions, undefined, 'plain manifests: no CRDs, nothing assumed here');

  writeFileSync(join(dir, 'crds.yaml'), [
    crd('gatewayclasses', 'gateway.networking.k8s.io', 'v1.6.3'),
    crd('httproutes', 'gateway.networking.k8s.io'),
    crd('widgets', 'example.com', 'v9.9.9'),
  ].join('---\n'));
  assert.equal(await p.reload(), true);
  assert.deepEqual(p.snapshot().crdBundleVersions, {
    'gatewayclasses.gateway.networking.k8s.io': 'v1.6.3',
    'httproutes.gateway.networking.k8s.io': '',
  });
  assert.ok(p.snapshot().objects.get('GatewayClass')!.has('portico'), 'the other objects are read as before');
  assert.deepEqual(p.snapshot().diagnostics, [], 'CRD objects are not reported as ignored kinds');

  // Only the CRD file changes: a new snapshot with the new version.
  writeFileSync(join(dir, 'crds.yaml'), crd('gatewayclasses', 'gateway.networking.k8s.io', 'v1.5.1'));
  assert.equal(await p.reload(), true);
  assert.deepEqual(p.snapshot().crdBundleVersions, { 'gatewayclasses.gateway.networking.k8s.io': 'v1.5.1' });

  rmSync(join(dir, 'crds.yaml'));
  assert.equal(await p.reload(), true);
  assert.equal(p.snapshot().crdBundleVersions, undefined);
  assert.equal(await p.reload(), false, 'nothing changed since');
});
