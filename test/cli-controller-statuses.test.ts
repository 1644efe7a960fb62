// The run loop keeps the previous statuses by key in one map, updated from the previous and the
// new sorted status lists (controller.ts rememberStatuses) instead of rebuilt on each change: over
// random sequences of status lists it must always hold exactly the latest list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rememberStatuses } from '../src/cli/controller.ts';
import type { OwnedStatus } from '../src/translate/index.ts';
import { rng } from './support/wait.ts';

test('rememberStatuses keeps the map equal to the latest status list', () => {
  const r = rng(5);
  const map = new Map<string, unknown>();
  let before: OwnedStatus[] = [];
  const object = { apiVersion: 'v1', kind: 'X', metadata: { name: 'x' } };
  for (let step = 0; step < 400; step++) {
    // Keep, replace or drop each status; add new keys.
    const next: OwnedStatus[] = [];
    for (const s of before) {
      const p = r();
      if (p < 0.7) next.push(s);
      else if (p < 0.8) next.push({ ...s, status: { v: step } });
      else if (p < 0.85) next.push({ key: s.key, object, status: s.status });
    }
    for (let k = Math.floor(r() * 4); k > 0; k--) {
      const key = `K/${Math.floor(r() * 60)}`;
      if (!next.some((s) => s.key === key)) next.push({ key, object, status: { v: step } });
    }
    next.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    rememberStatuses(map, before, next);
    assert.deepEqual([...map].sort(), next.map((s) => [s.key, s.status]).sort(), `step ${step}`);
    for (const s of next) assert.equal(map.get(s.key), s.status);
    before = next;
  }
});
