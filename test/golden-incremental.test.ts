// The incremental translator (createTranslator, used by the run loop) must give the same bytes
// as translate() on every golden case, whatever it remembers from earlier snapshots. One
// translator goes through all cases in order, then again in reverse: each step changes almost
// everything except the _base.yaml objects, which is the hardest diet for its cache. The first
// pass hands over fresh (equal) copies of the base objects, the second the same instances, as
// the run loop does for objects that did not change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { createTranslator, translate } from '../src/translate/index.ts';
import { caseInput, listCases, loadBaseObjects, canonicalOutput } from './support/golden.ts';

test('createTranslator() gives the same bytes as translate() across a stream of snapshots', () => {
  const translator = createTranslator();
  const cases = listCases();
  const sharedBase = loadBaseObjects();
  const differing = new Set<string>();
  const expected = new Map<string, string>();
  const step = (name: string, base?: typeof sharedBase) => {
    if (!expected.has(name)) {
      const fresh = caseInput(name);
      expected.set(name, canonicalOutput(translate(fresh.snapshot, fresh.options)));
    }
    const incremental = caseInput(name, base);
    const got = canonicalOutput(translator.translate(incremental.snapshot, incremental.options));
    if (got !== expected.get(name)) differing.add(name);
  };
  for (const name of cases) step(name);
  for (const name of [...cases].reverse()) step(name, sharedBase);
  assert.deepEqual([...differing], [], 'cases where the incremental translator differs from translate()');
});

/** Cases with many interacting objects: removing any one of them changes status elsewhere. */
const EDIT_CASES = [
  'ListenerSetHTTPRouting', 'ListenerSetHostnameConflict', 'GatewayHTTPListenerIsolation', 'PorticoValidRouteFeatures',
  'BackendTLSPolicyConflictResolution', 'TLSRouteHostnameIntersection', 'HTTPRouteReferenceGrant', 'PorticoGrantsNotInherited',
];

test('createTranslator() follows edits: each object of a case removed, then put back', () => {
  const differing: string[] = [];
  for (const name of EDIT_CASES) {
    const translator = createTranslator();
    const sharedBase = loadBaseObjects();
    const full = caseInput(name, sharedBase);
    const all = [...full.snapshot.objects.values()].flatMap((byKey) => [...byKey.values()]);
    const own = all.filter((o) => !sharedBase.includes(o));
    const check = (label: string, objects: typeof all) => {
      const snapshot = buildSnapshot(objects, 1);
      const got = canonicalOutput(translator.translate(snapshot, full.options));
      if (got !== canonicalOutput(translate(buildSnapshot(objects, 1), full.options))) differing.push(`${name}: ${label}`);
    };
    check('initial', all);
    for (const removed of own) {
      check(`without ${removed.kind}/${removed.metadata.name}`, all.filter((o) => o !== removed));
      check(`with ${removed.kind}/${removed.metadata.name} back`, all);
    }
  }
  assert.deepEqual(differing, [], 'edits where the incremental translator differs from translate()');
});
