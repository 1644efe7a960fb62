// The file provider's incremental reads (only the changed files' objects filled and admitted
// again, the snapshot patched) against full reads of the same files: over random sequences of
// edits, both must publish the same snapshots. And the listing: a new file the watcher names is
// added to the listing without listing the directory again, in the place a listing gives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileProvider } from '../src/providers/files/index.ts';
import type { Snapshot } from '../src/providers/snapshot.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-files-inc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const route = (name: string, ns: string, path: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  rules:
  - matches:
    - path: {type: PathPrefix, value: "${path}"}
`;
const service = (name: string, ns: string, port: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {ports: [{port: ${port}}]}
`;
const namespace = (name: string, label: string) => `apiVersion: v1
kind: Namespace
metadata: {name: ${name}, labels: {team: "${label}"}}
`;

/** One random document: mostly valid objects, some refused, some of kinds not read, some broken. */
function document(r: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const name = `o${Math.floor(r() * 16)}`;
  const ns = pick(['a', 'b', '']);
  const x = r();
  if (x < 0.45) return route(name, ns || 'default', pick(['/', '/x', '/y']));
  if (x < 0.6) return service(name, ns || 'default', pick([80, 81]));
  if (x < 0.7) return namespace(pick(['a', 'b']), pick(['1', '2']));
  // Refused by validation: a path value must start with "/".
  if (x < 0.8) return route(name, ns || 'default', 'no-slash');
  if (x < 0.87) return `apiVersion: gateway.networking.k8s.io/v1\nkind: Unknown\nmetadata: {name: ${name}}\n`;
  if (x < 0.93) return 'kind: [unclosed\n';
  return `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}${ns ? `, namespace: ${ns}` : ''}}\ndata: {k: "${pick(['1', '2'])}"}\n`;
}

/** The snapshot's content, independent of map order. */
function view(s: Snapshot): unknown {
  const objects: Record<string, unknown> = {};
  for (const [kind, m] of s.objects) for (const k of [...m.keys()].sort()) objects[`${kind}/${k}`] = m.get(k);
  return { generation: s.generation, objects, diagnostics: s.diagnostics, rejected: s.rejected ?? [] };
}

test('incremental reads publish the same snapshots as full reads, over random edits', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'sub'));
  const files = ['a.yaml', 'b.yaml', 'c.yaml', 'sub/d.yaml', 'sub/e.yaml', 'f.yaml'];
  for (const seed of [1, 2, 3]) {
    const r = rng(seed);
    for (const f of files) rmSync(join(dir, f), { force: true });
    const inc = new FileProvider({ paths: [dir], log: () => {} });
    const full = new FileProvider({ paths: [dir], log: () => {}, incremental: false });
    let incrementalReads = 0;
    for (let step = 0; step < 60; step++) {
      const f = files[Math.floor(r() * files.length)]!;
      if (r() < 0.15) rmSync(join(dir, f), { force: true });
      else {
        const docs = Array.from({ length: 1 + Math.floor(r() * 3) }, () => document(r));
        writeFileSync(join(dir, f), docs.join('---\n'));
      }
      const before = inc.snapshot();
      await inc.reload();
      await full.reload();
      assert.deepEqual(view(inc.snapshot()), view(full.snapshot()), `seed ${seed}, step ${step}: ${f}`);
      // Snapshot.changes names exactly the keys whose object differs from the previous snapshot.
      const now = inc.snapshot();
      if (now.changes && now.generation !== before.generation) {
        assert.equal(now.changes.since, before.generation);
        for (const [kind, m] of now.objects) {
          const was = before.objects.get(kind) ?? new Map();
          const differ = new Set([...m.keys(), ...was.keys()].filter((k) => m.get(k) !== was.get(k)));
          const told = now.changes.keys.get(kind);
          if (m === was) assert.equal(told, undefined, `${kind}: unchanged map, no keys`);
          else assert.deepEqual([...(told ?? [])].filter((k) => differ.has(k)).sort(), [...differ].sort(), `${kind}: changed keys`);
        }
      }
      // Objects that did not change keep their instances (later stages compare identities).
      for (const [kind, m] of inc.snapshot().objects) {
        for (const [k, o] of m) {
          const was = before.objects.get(kind)?.get(k);
          if (was !== undefined && JSON.stringify(was) === JSON.stringify(o)) assert.equal(o, was, `${kind}/${k} kept its instance`);
        }
      }
      if (before.generation > 0 && inc.snapshot().objects.get('HTTPRoute') !== full.snapshot().objects.get('HTTPRoute')) incrementalReads++;
    }
    assert.ok(incrementalReads > 0);
  }
});

test('a snapshot patched by an incremental read shares the maps of kinds that did not change', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'svc.yaml'), service('s', 'a', 80));
  writeFileSync(join(dir, 'r.yaml'), route('r', 'a', '/'));
  const p = new FileProvider({ paths: [dir], log: () => {} });
  await p.reload();
  const first = p.snapshot();
  writeFileSync(join(dir, 'r.yaml'), route('r', 'a', '/changed'));
  await p.reload();
  const second = p.snapshot();
  assert.equal(second.generation, 2);
  assert.equal(second.objects.get('Service'), first.objects.get('Service'));
  assert.notEqual(second.objects.get('HTTPRoute'), first.objects.get('HTTPRoute'));
  // The first snapshot is immutable: it still has the old route.
  const path = (s: Snapshot) => (s.objects.get('HTTPRoute')!.get('a/r') as { spec: { rules: { matches: { path: { value: string } }[] }[] } }).spec.rules[0]!.matches[0]!.path.value;
  assert.equal(path(first), '/');
  assert.equal(path(second), '/changed');
});

test('watch mode: new files are added to the listing in order, as a full listing gives them', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'm.yaml'), route('m', 'x', '/'));
  writeFileSync(join(dir, 'sub', 'm.yaml'), route('s', 'x', '/'));
  const p = new FileProvider({ paths: [dir], log: () => {} });
  t.after(() => p.close());
  await p.reload();
  const snapshots: Snapshot[] = [];
  let wake = () => {};
  p.watch((s) => { snapshots.push(s); wake(); });
  const next = (pred: (s: Snapshot) => boolean) => new Promise<Snapshot>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error('no snapshot within 10 s')), 10_000);
    const check = () => {
      const s = snapshots.find(pred);
      if (s) { clearTimeout(timeout); resolve(s); }
    };
    wake = check;
    check();
  });
  // Two files define the same route: the later one in listing order wins, so the order matters.
  writeFileSync(join(dir, 'z.yaml'), route('dup', 'x', '/z'));
  await next((s) => s.objects.get('HTTPRoute')!.has('x/dup'));
  writeFileSync(join(dir, 'a.yaml'), route('dup', 'x', '/a'));
  writeFileSync(join(dir, 'sub', 'b.yaml'), route('b', 'x', '/'));
  const s = await next((s) => s.objects.get('HTTPRoute')!.has('x/b') && s.diagnostics.length > 0);
  const fresh = new FileProvider({ paths: [dir], log: () => {}, incremental: false });
  await fresh.reload();
  // (Generations differ: the watching provider saw more versions of x/dup.)
  const specs = (x: Snapshot) => Object.fromEntries([...x.objects.get('HTTPRoute')!].map(([k, o]) => [k, o.spec]));
  assert.deepEqual(specs(s), specs(fresh.snapshot()));
  assert.deepEqual(s.diagnostics, fresh.snapshot().diagnostics);
  assert.match(s.diagnostics[0]!.message, /also defined at .*a\.yaml/);
});

test('watch mode: files that are not manifests (a log, a swap file) do not make a full read', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 10; i++) writeFileSync(join(dir, `r${i}.yaml`), route(`r${i}`, 'x', '/'));
  const p = new FileProvider({ paths: [dir], log: () => {} });
  t.after(() => p.close());
  await p.reload();
  const snapshots: Snapshot[] = [];
  let wake = () => {};
  p.watch((s) => { snapshots.push(s); wake(); });
  const next = (pred: (s: Snapshot) => boolean) => new Promise<void>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error('no snapshot within 10 s')), 10_000);
    const check = () => {
      if (snapshots.some(pred)) { clearTimeout(timeout); resolve(); }
    };
    wake = check;
    check();
  });
  const reads = p.fileReads();
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(dir, 'portico.log'), `line ${i}\n`, { flag: 'a' });
    writeFileSync(join(dir, '.r3.yaml.swp'), 'x');
    await new Promise((r) => setTimeout(r, 20));
  }
  rmSync(join(dir, '.r3.yaml.swp'));
  writeFileSync(join(dir, 'r3.yaml'), route('r3', 'x', '/changed'));
  await next((s) => (s.objects.get('HTTPRoute')!.get('x/r3') as { spec: { rules: { matches: { path: { value: string } }[] }[] } }).spec.rules[0]!.matches[0]!.path.value === '/changed');
  // A full read would have read the ten files again (they are too recent to trust their stat).
  assert.ok(p.fileReads() - reads <= 2, `${p.fileReads() - reads} files read`);
  // A new directory is still seen.
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'n.yaml'), route('n', 'x', '/'));
  await next((s) => s.objects.get('HTTPRoute')!.has('x/n'));
});
