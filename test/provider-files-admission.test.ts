// The file provider refuses what the API server would (api/validation), on real files: refused
// objects are not in the snapshot, the last valid version of an updated object stays, each
// refusal is a `file:line: Kind ns/name rejected: path: message` diagnostic, and each object
// version is validated once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateObject } from '../src/api/validation/index.ts';
import { FileProvider, loadSnapshot } from '../src/providers/files/index.ts';
import type { Snapshot } from '../src/providers/snapshot.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-admission-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const route = (name: string, path: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: team-a}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches:
    - path: {type: PathPrefix, value: "${path}"}
`;

const service = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: team-a}
spec: {ports: [{port: 80}]}
`;

function route1(s: Snapshot, name: string) {
  return s.objects.get('HTTPRoute')?.get(`team-a/${name}`);
}

test('an invalid object is not admitted; the diagnostic names file:line, the object, the path and the problem', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'm.yaml');
  writeFileSync(file, `${route('ok', '/ok')}---\n${route('broken', 'relative')}---\n${service}`);
  const { snapshot } = await loadSnapshot([dir]);
  assert.ok(route1(snapshot, 'ok'));
  assert.equal(route1(snapshot, 'broken'), undefined);
  assert.ok(snapshot.objects.get('Service')?.get('team-a/web'), 'kinds the CRDs do not define are not judged');

  assert.equal(snapshot.rejected?.length, 1);
  const r = snapshot.rejected![0]!;
  assert.equal(r.object.metadata.name, 'broken');
  assert.equal(r.object.metadata.generation, 1);
  assert.equal(r.servingGeneration, undefined);
  assert.deepEqual(r.errors, validateObject(r.object));
  assert.ok(r.errors.some((e) => e.path === 'spec.rules[0].matches[0].path'), JSON.stringify(r.errors));
  for (const e of r.errors) {
    assert.ok(snapshot.diagnostics.some((d) => d.where === `${file}:10` && d.message === `HTTPRoute team-a/broken rejected: ${e.path}: ${e.message}`),
      JSON.stringify(snapshot.diagnostics));
  }
});

test('a valid object made invalid: its previous version stays (same instance); fixed: the new version is admitted', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'r.yaml');
  writeFileSync(file, route('web', '/v1'));
  const provider = new FileProvider({ paths: [dir], log: () => {} });
  t.after(() => provider.close());
  await provider.reload();
  const v1 = route1(provider.snapshot(), 'web');
  assert.ok(v1);
  assert.equal(provider.snapshot().rejected, undefined);

  writeFileSync(file, route('web', 'v2-without-slash'));
  assert.equal(await provider.reload(), true);
  let s = provider.snapshot();
  assert.equal(route1(s, 'web'), v1, 'the last valid version keeps serving');
  assert.equal(s.rejected?.length, 1);
  assert.equal(s.rejected![0]!.object.metadata.generation, 2);
  assert.equal(s.rejected![0]!.servingGeneration, 1);
  assert.equal((s.rejected![0]!.object.spec as { rules: { matches: { path: { value: string } }[] }[] }).rules[0]!.matches[0]!.path.value, 'v2-without-slash');

  // Another invalid version, with the same problem: still a new snapshot (status must follow it).
  writeFileSync(file, route('web', 'v3-without-slash'));
  assert.equal(await provider.reload(), true);
  s = provider.snapshot();
  assert.equal(route1(s, 'web'), v1);
  assert.equal(s.rejected![0]!.object.metadata.generation, 3);
  assert.equal(s.rejected![0]!.servingGeneration, 1);

  writeFileSync(file, route('web', '/v4'));
  assert.equal(await provider.reload(), true);
  s = provider.snapshot();
  assert.equal(s.rejected, undefined);
  assert.equal(route1(s, 'web')?.metadata.generation, 4);

  // Removed, then back invalid: a new object with nothing to fall back on.
  writeFileSync(file, service);
  await provider.reload();
  writeFileSync(file, route('web', 'nope'));
  await provider.reload();
  s = provider.snapshot();
  assert.equal(route1(s, 'web'), undefined);
  assert.equal(s.rejected?.[0]?.servingGeneration, undefined);
});

test('each object version is validated once: a change to one route of many validates that route only', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'many.yaml');
  const many = (changed: string) => Array.from({ length: 200 }, (_, i) => route(`r${i}`, i === 7 ? changed : `/r${i}`)).join('---\n');
  writeFileSync(file, many('/r7'));
  writeFileSync(join(dir, 'other.yaml'), route('other', '/other'));
  const provider = new FileProvider({ paths: [dir], log: () => {} });
  t.after(() => provider.close());
  await provider.reload();
  assert.equal(provider.validations(), 201);

  await provider.reload(); // nothing changed
  assert.equal(provider.validations(), 201);

  writeFileSync(file, many('/seven'));
  assert.equal(await provider.reload(), true);
  assert.equal(provider.validations(), 202, 'only the changed route is validated again');
  assert.equal(route1(provider.snapshot(), 'r7')?.metadata.generation, 2);

  writeFileSync(file, many('seven'));
  await provider.reload();
  assert.equal(provider.validations(), 203);
  assert.equal(provider.snapshot().rejected?.length, 1);
  // The refused version is remembered too: re-reading it (e.g. another object of the file changed) costs nothing.
  writeFileSync(file, `${many('seven')}---\n${service}`);
  await provider.reload();
  assert.equal(provider.validations(), 203);
  assert.equal(provider.snapshot().rejected?.length, 1);
});

test('cluster-scoped objects are named without a namespace; list items are located at their own line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'list.yaml');
  writeFileSync(file, `apiVersion: v1
kind: List
items:
- apiVersion: gateway.networking.k8s.io/v1
  kind: GatewayClass
  metadata: {name: fine}
  spec: {controllerName: portico.dev/gateway-controller}
- apiVersion: gateway.networking.k8s.io/v1
  kind: GatewayClass
  metadata: {name: nameless-controller}
  spec: {}
`);
  const { snapshot } = await loadSnapshot([file]);
  assert.ok(snapshot.objects.get('GatewayClass')?.get('fine'));
  assert.equal(snapshot.objects.get('GatewayClass')?.get('nameless-controller'), undefined);
  assert.equal(snapshot.rejected?.[0]?.object.metadata.name, 'nameless-controller');
  assert.ok(snapshot.diagnostics.some((d) => d.where === `${file}:8` && d.message.startsWith('GatewayClass nameless-controller rejected: spec.controllerName: ')),
    JSON.stringify(snapshot.diagnostics));
});
