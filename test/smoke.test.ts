import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate } from '../src/translate/index.ts';

test('translate of an empty snapshot is empty', () => {
  const r = translate({ generation: 1, objects: new Map(), diagnostics: [] }, { now: '2026-01-01T00:00:00Z' });
  assert.deepEqual(r.statuses, []);
  assert.equal(r.ir.generation, 1);
});
