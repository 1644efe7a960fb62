// The conformance runner's bookkeeping (conformance/run.ts): the summary table from a report, the
// per-test verdicts from `go test -v` output, and the check against expected-pass.txt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingExpected, summaryTable, testLines, testOutcomes } from '../conformance/run.ts';

const goTestOutput = [
  '=== RUN   TestConformance',
  '    --- PASS: TestConformance/HTTPRouteSimpleSameNamespace (1.20s)',
  '        --- PASS: TestConformance/HTTPRouteSimpleSameNamespace/sub (0.10s)',
  '    --- FAIL: TestConformance/TLSRouteHostnameIntersection (120.59s)',
  '    --- SKIP: TestConformance/MeshBasic (0.00s)',
  '--- FAIL: TestConformance (600.00s)',
].join('\n');

test('verdicts of top-level conformance tests are read from go test -v output', () => {
  const outcomes = testOutcomes(goTestOutput);
  assert.deepEqual([...outcomes], [
    ['HTTPRouteSimpleSameNamespace', 'PASS'],
    ['TLSRouteHostnameIntersection', 'FAIL'],
    ['MeshBasic', 'SKIP'],
  ]);
});

test('expected-pass entries that failed or did not run are reported; comments are ignored', () => {
  const expected = '# header\nHTTPRouteSimpleSameNamespace\nTLSRouteHostnameIntersection  # flaky?\n\nGRPCExactMethodMatching\n';
  assert.deepEqual(missingExpected(expected, testOutcomes(goTestOutput)), [
    'TLSRouteHostnameIntersection: FAIL',
    'GRPCExactMethodMatching: did not run',
  ]);
});

test("a failed test's own lines are picked out of interleaved parallel output", () => {
  const output = [
    '=== RUN   TestConformance/A',
    '=== PAUSE TestConformance/A',
    '=== RUN   TestConformance/B',
    '    b.go:1: b starts',
    '=== CONT  TestConformance/A',
    '    a.go:7: a: expected 200, got 500',
    '=== NAME  TestConformance/B',
    '    b.go:2: b goes on',
    '=== RUN   TestConformance/A/sub',
    '    a.go:9: sub fails',
    '    --- FAIL: TestConformance/A (3.00s)',
    '    --- PASS: TestConformance/B (1.00s)',
  ].join('\n');
  assert.deepEqual(testLines(output, 'A'), [
    '=== RUN   TestConformance/A',
    '=== PAUSE TestConformance/A',
    '=== CONT  TestConformance/A',
    '    a.go:7: a: expected 200, got 500',
    '=== RUN   TestConformance/A/sub',
    '    a.go:9: sub fails',
    '    --- FAIL: TestConformance/A (3.00s)',
  ]);
});

test('the summary table has one row per profile with core, extended and test counts', () => {
  const table = summaryTable([
    {
      name: 'GATEWAY-HTTP',
      core: { result: 'success', statistics: { Passed: 36 } },
      extended: { result: 'failure', statistics: { Passed: 51, Failed: 2 }, supportedFeatures: ['A', 'B', 'C'], unsupportedFeatures: ['D'] },
    },
    { name: 'GATEWAY-TLS', core: { result: 'failure', statistics: { Passed: 16, Failed: 2, Skipped: 1 } } },
  ]);
  const rows = table.split('\n').map((r) => r.trim().split(/\s{2,}/));
  assert.deepEqual(rows[0], ['profile', 'core passed/total', 'extended claimed/total', 'passed', 'failed', 'skipped']);
  assert.deepEqual(rows[1], ['GATEWAY-HTTP', '36/36', '3/4', '87', '2', '0']);
  assert.deepEqual(rows[2], ['GATEWAY-TLS', '16/19', '0/0', '16', '2', '1']);
});
