// Golden tests for translate(): each test/golden/<case>/in.yaml is translated and compared with
// out.yaml byte for byte, and its expect.yaml assertions (the conditions the upstream conformance
// test asserts) are checked. Regenerate out.yaml with `node test/golden.test.ts --update` or
// `GOLDEN_UPDATE=1 node --test test/golden.test.ts`, then READ the diff before committing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GOLDEN_DIR, checkExpectations, listCases, loadExpectations, loadPending, renderOutput, runCase,
  updateRequested,
} from './support/golden.ts';

const update = updateRequested();
const pending = loadPending();
const cases = listCases();

test('every PENDING entry names an existing case', () => {
  const unknown = [...pending.keys()].filter((name) => !cases.includes(name));
  assert.deepEqual(unknown, [], 'test/golden/PENDING lists cases that do not exist');
});

for (const name of cases) {
  const why = pending.get(name);
  test(`golden ${name}`, async (t) => {
    const result = runCase(name);
    const rendered = renderOutput(result);
    const outFile = join(GOLDEN_DIR, name, 'out.yaml');

    await t.test('out.yaml', (st) => {
      if (update) {
        writeFileSync(outFile, rendered);
        return;
      }
      if (!existsSync(outFile)) {
        assert.fail(`${outFile} is missing: create it with \`node test/golden.test.ts --update\` `
          + '(or GOLDEN_UPDATE=1 node --test test/golden.test.ts) and read it before committing');
      }
      const same = readFileSync(outFile, 'utf8') === rendered;
      if (!same && why !== undefined) {
        st.todo(`pending (${why}): out.yaml differs; regenerate when translate lands`);
        return;
      }
      assert.equal(rendered, readFileSync(outFile, 'utf8'),
        `translate output differs from ${name}/out.yaml; if the change is intended, regenerate with `
        + '`node test/golden.test.ts --update` and review the diff');
    });

    await t.test('same output whatever the input order', () => {
      assert.equal(renderOutput(runCase(name, true)), rendered,
        `${name}: translate output depends on the order of the input objects`);
    });

    await t.test('expect.yaml', (st) => {
      const expectations = loadExpectations(name);
      if (expectations === undefined) {
        st.skip('no expect.yaml');
        return;
      }
      const failures = checkExpectations(result, expectations);
      if (why !== undefined) {
        if (failures.length === 0) st.diagnostic(`${name} now passes: remove it from test/golden/PENDING`);
        else st.todo(`pending (${why}): ${failures.length} assertion(s) fail, first: ${failures[0]}`);
        return;
      }
      assert.deepEqual(failures, [], `${name}: expect.yaml assertions fail`);
    });
  });
}
