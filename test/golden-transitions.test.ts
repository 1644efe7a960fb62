// lastTransitionTime moves only when a condition's status changes. Translating every golden case
// again later, with the first result as `previous`, must keep every lastTransitionTime of the
// first run; flipping the inputs of a case must stamp the new time on exactly the conditions
// whose status flipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { translate, type TranslateResult } from '../src/translate/index.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { caseInput, listCases, loadCaseObjects } from './support/golden.ts';

const LATER = '2026-06-01T12:00:00Z';

/** "key path type" → {status, lastTransitionTime} of every condition of a result. */
function conditionsOf(result: TranslateResult): Map<string, { status: string; time: string }> {
  const out = new Map<string, { status: string; time: string }>();
  for (const { key, status } of result.statuses) {
    const visit = (where: string, conditions: unknown) => {
      if (!Array.isArray(conditions)) return;
      for (const c of conditions) out.set(`${key} ${where} ${c.type}`, { status: c.status, time: c.lastTransitionTime });
    };
    visit('', status.conditions);
    for (const group of ['listeners', 'parents', 'ancestors']) {
      const entries = status[group];
      if (!Array.isArray(entries)) continue;
      entries.forEach((e: Record<string, unknown>) => {
        const id = group === 'listeners' ? String(e.name) : JSON.stringify(e.parentRef ?? e.ancestorRef);
        visit(`${group}[${id}]`, e.conditions);
      });
    }
  }
  return out;
}

function previousOf(result: TranslateResult): Map<string, unknown> {
  return new Map(result.statuses.map((s) => [s.key, s.status]));
}

test('a later run with nothing changed keeps every lastTransitionTime', () => {
  const moved: string[] = [];
  for (const name of listCases()) {
    const { snapshot, options } = caseInput(name);
    const first = translate(snapshot, options);
    const again = caseInput(name);
    const second = translate(again.snapshot, { ...again.options, now: LATER, previous: previousOf(first) });
    const before = conditionsOf(first);
    for (const [id, c] of conditionsOf(second)) {
      if (c.time !== before.get(id)?.time) moved.push(`${name}: ${id} ${before.get(id)?.time} -> ${c.time}`);
    }
  }
  assert.deepEqual(moved, []);
});

test('only conditions whose status flipped get the new time', () => {
  // HTTPRouteReferenceGrant without its ReferenceGrant: the route's ResolvedRefs flips to False.
  const name = 'HTTPRouteReferenceGrant';
  const { snapshot, options } = caseInput(name);
  const first = translate(snapshot, options);
  const withoutGrant = loadCaseObjects(name).filter((o) => o.kind !== 'ReferenceGrant');
  const second = translate(buildSnapshot(withoutGrant, 2), { ...options, now: LATER, previous: previousOf(first) });
  const before = conditionsOf(first);
  const flipped: string[] = [];
  for (const [id, c] of conditionsOf(second)) {
    const old = before.get(id);
    const changed = !old || old.status !== c.status;
    assert.equal(c.time, changed ? LATER : old!.time, `${id}: lastTransitionTime`);
    if (changed) flipped.push(id);
  }
  assert.ok(flipped.some((id) => id.startsWith('HTTPRoute/infra/granted') && id.endsWith('ResolvedRefs')), `flipped: ${flipped.join(', ')}`);
});
