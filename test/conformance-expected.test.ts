// conformance/expected-pass.txt only grows: a test that once had to pass in CI may not be dropped
// to make a run green. Every version of the file in the history is compared with the working
// tree's; a name listed by any earlier commit must still be listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectedNames } from '../conformance/run.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const FILE = 'conformance/expected-pass.txt';

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20 });
}

test('conformance/expected-pass.txt never loses a test that an earlier commit listed', (t) => {
  let commits: string[];
  try {
    commits = git(['log', '--format=%H', '--', FILE]).split('\n').filter(Boolean);
  } catch (e) {
    // Not a git checkout (a source tarball): there is no history to compare with.
    t.skip(`no git history: ${String(e).split('\n')[0]}`);
    return;
  }
  const now = new Set(expectedNames(readFileSync(join(repo, FILE), 'utf8')));
  const dropped = new Map<string, string>();
  for (const commit of commits) {
    for (const name of expectedNames(git(['show', `${commit}:${FILE}`]))) {
      if (!now.has(name) && !dropped.has(name)) dropped.set(name, commit.slice(0, 10));
    }
  }
  assert.deepEqual(
    [...dropped].map(([name, commit]) => `${name} (listed in ${commit})`),
    [],
    'a test listed in conformance/expected-pass.txt was removed; fix the failure instead',
  );
  assert.ok(now.size > 0);
});
