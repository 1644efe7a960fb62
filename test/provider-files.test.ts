import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileProvider, loadSnapshot } from '../src/providers/files/index.ts';
import type { Snapshot } from '../src/providers/snapshot.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const route = (name: string, ns: string | undefined, path = '/') => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ''}spec:
  rules:
  - matches:
    - path: {type: PathPrefix, value: "${path}"}
`;

function get(s: Snapshot, kind: string, key: string) {
  return s.objects.get(kind as never)?.get(key);
}

test('multi-document YAML, kind: List, JSON and directories (recursive) are all read', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'routes.yaml'), `${route('a', 'team-a')}---\n${route('b', undefined)}---\n`);
  writeFileSync(join(dir, 'sub', 'list.yml'), `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: team-a, labels: {shared: "true"}}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: team-a}
  spec: {ports: [{port: 80}]}
`);
  writeFileSync(join(dir, 'sub', 'deeper', 'gw.json'), JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra' },
    spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
  }));
  writeFileSync(join(dir, 'notes.txt'), 'not a manifest: {');
  // A mounted ConfigMap: visible names are symbolic links into a hidden directory.
  mkdirSync(join(dir, 'cm', '..2026_01_01'), { recursive: true });
  writeFileSync(join(dir, 'cm', '..2026_01_01', 'linked.yaml'), route('linked', 'team-a'));
  symlinkSync('..2026_01_01', join(dir, 'cm', '..data'));
  symlinkSync(join('..data', 'linked.yaml'), join(dir, 'cm', 'linked.yaml'));
  const { snapshot } = await loadSnapshot([dir]);
  assert.deepEqual(snapshot.diagnostics, []);
  assert.equal(snapshot.generation, 1);
  assert.ok(get(snapshot, 'HTTPRoute', 'team-a/a'));
  assert.equal(get(snapshot, 'HTTPRoute', 'default/b')?.metadata.namespace, 'default');
  assert.deepEqual(get(snapshot, 'Namespace', 'team-a')?.metadata.labels, { shared: 'true', 'kubernetes.io/metadata.name': 'team-a' });
  assert.ok(get(snapshot, 'Service', 'team-a/web'));
  assert.ok(get(snapshot, 'Gateway', 'infra/gw'));
  assert.ok(get(snapshot, 'HTTPRoute', 'team-a/linked'), 'symbolic links are followed, hidden directories skipped');
  assert.equal(snapshot.objects.get('HTTPRoute')!.size, 3);
});

test('metadata the API server would set is filled in, stable across providers', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'r.yaml');
  writeFileSync(file, route('a', 'x') + '---\n' + route('b', 'x').replace('name: b', 'name: b\n  generation: 7\n  uid: given'));
  const one = (await loadSnapshot([file])).snapshot;
  const two = (await loadSnapshot([file])).snapshot;
  const a = get(one, 'HTTPRoute', 'x/a')!.metadata;
  assert.equal(a.generation, 1);
  assert.match(a.uid!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.match(a.creationTimestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(get(two, 'HTTPRoute', 'x/a')!.metadata, a);
  const b = get(one, 'HTTPRoute', 'x/b')!.metadata;
  assert.equal(b.generation, 7);
  assert.equal(b.uid, 'given');
});

test('generation bumps when the spec changes, not when only metadata changes', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'r.yaml');
  writeFileSync(file, route('a', 'x', '/one'));
  const p = new FileProvider({ paths: [file], log: () => {} });
  assert.equal(await p.reload(), true);
  const first = get(p.snapshot(), 'HTTPRoute', 'x/a')!.metadata;
  assert.equal(first.generation, 1);

  assert.equal(await p.reload(), false, 'nothing changed: no new snapshot');
  assert.equal(p.snapshot().generation, 1);

  writeFileSync(file, route('a', 'x', '/two'));
  assert.equal(await p.reload(), true);
  assert.equal(p.snapshot().generation, 2);
  const second = get(p.snapshot(), 'HTTPRoute', 'x/a')!.metadata;
  assert.equal(second.generation, 2);
  assert.equal(second.uid, first.uid);
  assert.equal(second.creationTimestamp, first.creationTimestamp);

  writeFileSync(file, route('a', 'x', '/two').replace('name: a', 'name: a\n  labels: {l: v}'));
  await p.reload();
  assert.equal(get(p.snapshot(), 'HTTPRoute', 'x/a')!.metadata.generation, 2, 'labels are metadata');
});

test('a file that does not parse keeps its last good objects and reports file:line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'r.yaml');
  const other = join(dir, 'other.yaml');
  writeFileSync(file, route('a', 'x'));
  writeFileSync(other, route('o', 'x'));
  const logged: string[] = [];
  const p = new FileProvider({ paths: [dir], log: (l) => logged.push(l) });
  await p.reload();
  assert.ok(get(p.snapshot(), 'HTTPRoute', 'x/a'));

  writeFileSync(file, `${route('a', 'x', '/changed')}---\nkind: HTTPRoute\nmetadata:\n  name: [broken\n  x: 1\n`);
  writeFileSync(other, route('o', 'x', '/still-read'));
  await p.reload();
  const s = p.snapshot();
  const kept = get(s, 'HTTPRoute', 'x/a') as { spec: { rules: { matches: { path: { value: string } }[] }[] } };
  assert.equal(kept.spec.rules[0].matches[0].path.value, '/', 'the last good version is kept');
  const other2 = get(s, 'HTTPRoute', 'x/o') as typeof kept;
  assert.equal(other2.spec.rules[0].matches[0].path.value, '/still-read', 'other files are read as usual');
  assert.equal(s.diagnostics.length, 1);
  assert.match(s.diagnostics[0].where, /r\.yaml:\d+$/);
  assert.equal(s.diagnostics[0].where, `${file}:15`);
  assert.match(s.diagnostics[0].message, /keeping the last good version/);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /r\.yaml:15: /);

  writeFileSync(file, route('a', 'x', '/fixed'));
  await p.reload();
  assert.deepEqual(p.snapshot().diagnostics, []);
});

test('bad input of every kind never throws', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), '\t- : :\n{{{');
  writeFileSync(join(dir, 'b.json'), '{"kind": ');
  writeFileSync(join(dir, 'c.yaml'), '- just\n- a list\n---\n42\n---\nkind: HTTPRoute\nmetadata: {}\n---\nmetadata: {name: x}\n');
  writeFileSync(join(dir, 'd.yaml'), 'a: &a [*a]\n');
  writeFileSync(join(dir, 'e.yaml'), '');
  writeFileSync(join(dir, 'f.yaml'), 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoutes\nmetadata: {name: typo}\n');
  const { snapshot } = await loadSnapshot([dir, join(dir, 'missing.yaml')]);
  const where = snapshot.diagnostics.map((d) => d.where.replace(dir + '/', ''));
  assert.ok(where.includes('a.yaml:1'), where.join());
  assert.ok(where.some((w) => w.startsWith('b.json:')), where.join());
  assert.ok(where.includes('c.yaml:1') && where.includes('c.yaml:4') && where.includes('c.yaml:6') && where.includes('c.yaml:9'), where.join());
  assert.ok(where.includes('f.yaml:1'), where.join());
  assert.ok(where.includes('missing.yaml'), where.join());
});

test('duplicates: the later definition wins and the earlier place is named', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '1.yaml'), route('a', 'x', '/first'));
  writeFileSync(join(dir, '2.yaml'), route('a', 'x', '/second'));
  const { snapshot } = await loadSnapshot([dir]);
  const r = get(snapshot, 'HTTPRoute', 'x/a') as { spec: { rules: { matches: { path: { value: string } }[] }[] } };
  assert.equal(r.spec.rules[0].matches[0].path.value, '/second');
  assert.equal(snapshot.diagnostics.length, 1);
  assert.match(snapshot.diagnostics[0].message, /also defined at .*1\.yaml:2/);
});

test('watch mode: a change to a watched file becomes a new snapshot', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'nested'));
  const file = join(dir, 'nested', 'r.yaml');
  writeFileSync(file, route('a', 'x', '/one'));
  const single = join(dir, 'single.yaml');
  writeFileSync(single, route('s', 'x', '/one'));
  const p = new FileProvider({ paths: [dir + '/nested', single], log: () => {} });
  t.after(() => p.close());
  await p.reload();
  const snapshots: Snapshot[] = [];
  let wake: () => void = () => {};
  p.watch((s) => { snapshots.push(s); wake(); });
  const next = (pred: (s: Snapshot) => boolean) => new Promise<number>((resolve, reject) => {
    const started = performance.now();
    const timeout = setTimeout(() => reject(new Error('no snapshot within 10 s')), 10_000);
    const check = () => {
      if (snapshots.some(pred)) { clearTimeout(timeout); resolve(performance.now() - started); }
    };
    wake = check;
    check();
  });
  const pathOf = (s: Snapshot, key: string) =>
    (get(s, 'HTTPRoute', key) as { spec: { rules: { matches: { path: { value: string } }[] }[] } } | undefined)?.spec.rules[0].matches[0].path.value;

  writeFileSync(file, route('a', 'x', '/two'));
  const ms = await next((s) => pathOf(s, 'x/a') === '/two');
  t.diagnostic(`change seen after ${ms.toFixed(1)} ms`);

  writeFileSync(single, route('s', 'x', '/two'));
  await next((s) => pathOf(s, 'x/s') === '/two');

  writeFileSync(join(dir, 'nested', 'new.yaml'), route('n', 'x'));
  await next((s) => get(s, 'HTTPRoute', 'x/n') !== undefined);

  rmSync(join(dir, 'nested', 'new.yaml'));
  await next((s) => s.generation > 1 && get(s, 'HTTPRoute', 'x/n') === undefined && pathOf(s, 'x/a') === '/two');
});

test('watch mode: only the files the watcher names are read again; new directories and deletions are seen', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 10; i++) writeFileSync(join(dir, `r${i}.yaml`), route(`r${i}`, 'x', '/one'));
  const p = new FileProvider({ paths: [dir], log: () => {} });
  t.after(() => p.close());
  await p.reload();
  assert.equal(p.fileReads(), 10);
  const snapshots: Snapshot[] = [];
  let wake: () => void = () => {};
  p.watch((s) => { snapshots.push(s); wake(); });
  const next = (pred: (s: Snapshot) => boolean) => new Promise<void>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error('no snapshot within 10 s')), 10_000);
    const check = () => {
      if (snapshots.some(pred)) { clearTimeout(timeout); resolve(); }
    };
    wake = check;
    check();
  });
  const pathOf = (s: Snapshot, key: string) =>
    (get(s, 'HTTPRoute', key) as { spec: { rules: { matches: { path: { value: string } }[] }[] } } | undefined)?.spec.rules[0].matches[0].path.value;

  writeFileSync(join(dir, 'r3.yaml'), route('r3', 'x', '/two'));
  await next((s) => pathOf(s, 'x/r3') === '/two');
  // One save may come as two events, read in one or two passes: never the nine others.
  assert.ok(p.fileReads() - 10 <= 2, `${p.fileReads() - 10} files read for one change`);
  const last = snapshots.at(-1)!;
  for (let i = 0; i < 10; i++) assert.ok(get(last, 'HTTPRoute', `x/r${i}`), `r${i} still there`);

  // A new directory (an event naming something that is not a manifest): everything is listed again.
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'n.yaml'), route('n', 'x'));
  await next((s) => get(s, 'HTTPRoute', 'x/n') !== undefined);
  // ... and is watched from then on, as is a directory made with files already in it.
  writeFileSync(join(dir, 'sub', 'n.yaml'), route('n', 'x', '/changed'));
  await next((s) => pathOf(s, 'x/n') === '/changed');
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(dir, 'tmp', 'm.yaml'), route('m', 'x'));
  rmSync(join(dir, 'sub'), { recursive: true });
  await next((s) => get(s, 'HTTPRoute', 'x/m') !== undefined && get(s, 'HTTPRoute', 'x/n') === undefined);
  writeFileSync(join(dir, 'tmp', 'm.yaml'), route('m', 'x', '/changed'));
  await next((s) => pathOf(s, 'x/m') === '/changed');

  rmSync(join(dir, 'r5.yaml'));
  await next((s) => get(s, 'HTTPRoute', 'x/r5') === undefined && get(s, 'HTTPRoute', 'x/r4') !== undefined);
  // A file that stops parsing keeps its objects and says so; fixed, the diagnostic goes away.
  writeFileSync(join(dir, 'r4.yaml'), 'kind: [unclosed\n');
  await next((s) => s.diagnostics.some((d) => d.where.endsWith('r4.yaml:1') || d.where.includes('r4.yaml')) && get(s, 'HTTPRoute', 'x/r4') !== undefined);
  writeFileSync(join(dir, 'r4.yaml'), route('r4', 'x', '/fixed'));
  await next((s) => pathOf(s, 'x/r4') === '/fixed' && s.diagnostics.length === 0);
});
