// PatchedMap (the file provider's snapshot maps with structural sharing) against a plain Map over
// random sequences of changes: same size, lookups, entries; the previous version never changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PatchedMap } from '../src/providers/files/patched-map.ts';
import { rng } from './support/wait.ts';

const sorted = (m: ReadonlyMap<string, number>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

test('PatchedMap behaves as a Map after each batch of changes, and leaves earlier versions alone', () => {
  const r = rng(11);
  let model = new Map<string, number>();
  for (let i = 0; i < 300; i++) model.set(`k${i}`, i);
  let current: ReadonlyMap<string, number> = new Map(model);
  const history: [ReadonlyMap<string, number>, [string, number][]][] = [];
  let patched = 0;
  for (let step = 0; step < 500; step++) {
    const changes = new Map<string, number | undefined>();
    for (let n = 1 + Math.floor(r() * 4); n > 0; n--) {
      const key = `k${Math.floor(r() * 400)}`;
      changes.set(key, r() < 0.3 ? undefined : step * 1000 + n);
    }
    const next = PatchedMap.of(current, changes);
    model = new Map(model);
    for (const [k, v] of changes) {
      if (v === undefined) model.delete(k);
      else model.set(k, v);
    }
    assert.equal(next.size, model.size, `step ${step}: size`);
    assert.deepEqual(sorted(next), sorted(model), `step ${step}: entries`);
    assert.deepEqual([...next.keys()].sort(), [...model.keys()].sort());
    for (let q = 0; q < 20; q++) {
      const key = `k${Math.floor(r() * 400)}`;
      assert.equal(next.get(key), model.get(key));
      assert.equal(next.has(key), model.has(key));
    }
    let visited = 0;
    next.forEach((v, k) => { visited++; assert.equal(model.get(k), v); });
    assert.equal(visited, model.size);
    if (next instanceof PatchedMap) patched++;
    history.push([current, sorted(current)]);
    current = next;
  }
  for (const [m, entries] of history) assert.deepEqual(sorted(m), entries, 'an earlier version changed');
  assert.ok(patched > 250, `${patched} patched versions (the rest folded into plain maps)`);
});
