// Fuzz: thousands of randomly mutated valid manifests (fields deleted, replaced by wrong types,
// random strings and numbers) through buildSnapshot + translate. None may throw, and the
// result must still be plain JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import type { KubeObject } from '../src/api/meta.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { translate } from '../src/translate/index.ts';
import { NOW, parseObjects } from './translate-helpers.ts';
import { rng } from './support/wait.ts';

function corpus(): KubeObject[][] {
  const dir = new URL('./golden/', import.meta.url);
  const base = parseObjects(readFileSync(new URL('_base.yaml', dir), 'utf8'));
  const cases: KubeObject[][] = [];
  for (const name of readdirSync(dir).sort()) {
    const f = new URL(`${name}/in.yaml`, dir);
    if (!existsSync(f)) continue;
    cases.push([...base, ...parseObjects(readFileSync(f, 'utf8'))]);
  }
  return cases;
}

const WEIRD: unknown[] = [null, 0, -1, 65536, 1.5, '', 'x', '*', '*.', '/../', '(?=a)', 'Exact', true, [], {}, [null], { a: 1 }, 'a'.repeat(300), NaN];

function mutate(v: unknown, r: () => number, depth = 0): unknown {
  if (Array.isArray(v)) {
    const out = v.map((x) => mutate(x, r, depth + 1));
    if (r() < 0.05) out.pop();
    if (r() < 0.05) out.push(WEIRD[Math.floor(r() * WEIRD.length)]);
    if (r() < 0.03 && out.length > 0) out.push(out[0]); // duplicates
    return out;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = r();
      if (p < 0.04 && !(depth === 1 && k === 'name')) continue; // delete a field
      if (p < 0.08) out[k] = WEIRD[Math.floor(r() * WEIRD.length)]; // wrong type / odd value
      else out[k] = mutate(x, r, depth + 1);
    }
    return out;
  }
  if (typeof v === 'string' && r() < 0.05) return v + String.fromCharCode(32 + Math.floor(r() * 90));
  if (typeof v === 'number' && r() < 0.05) return Math.floor(r() * 70000) - 100;
  return v;
}

test('fuzz: mutated manifests never make translate() throw', () => {
  const cases = corpus();
  assert.ok(cases.length > 0, 'golden corpus present');
  const r = rng(1234);
  let runs = 0;
  for (let i = 0; i < 2000; i++) {
    const objs = cases[i % cases.length]!.map((o) => (r() < 0.3 ? mutate(o, r) : structuredClone(o)) as KubeObject);
    const snapshot = buildSnapshot(objs.filter((o) => o && typeof o === 'object'), i);
    const out = translate(snapshot, { now: NOW });
    assert.doesNotThrow(() => JSON.stringify(out.ir));
    // translate() guards each route with a catch as a last resort; it must never be needed.
    assert.deepEqual(out.diagnostics.filter((d) => d.message.startsWith('ignored')), []);
    runs++;
  }
  assert.equal(runs, 2000);
});
