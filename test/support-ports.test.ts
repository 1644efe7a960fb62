// test/support/client.ts freePort(): each test process holds a slice of ports alone, so test
// files running side by side never pick the same port. Slices used to follow the pid alone, and
// two processes whose pids differed by a multiple of the slice count collided.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

const client = new URL('./support/client.ts', import.meta.url).pathname;
const dir = join(tmpdir(), 'portico-test-ports');

/** A process that prints its pid, waits for a line, then prints the port freePort() gives it. */
function portTaker() {
  const code = `import { freePort } from ${JSON.stringify(client)};
process.stdout.write(process.pid + '\\n');
process.stdin.once('data', async () => { process.stdout.write((await freePort()) + '\\n'); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const line = async (n: number) => {
    while (lines.length <= n) await new Promise<void>((r) => waiters.push(r));
    return lines[n];
  };
  return { child, line };
}

test('freePort: a slice held by a live process is skipped, one left by a dead process is taken over', async (t) => {
  const taker = portTaker();
  const pid = Number(await taker.line(0));
  const own = pid % 127;
  const next = (own + 1) % 127;
  mkdirSync(dir, { recursive: true });
  const ownFile = join(dir, String(own));
  const nextFile = join(dir, String(next));
  // The slice the pid points at is held by a live process (this one); the next one by a pid that
  // no longer runs. Skip the test if another test process holds either (they run side by side).
  if (existsSync(ownFile) || existsSync(nextFile)) {
    taker.child.kill();
    t.skip('another test process holds one of the slices this test needs');
    return;
  }
  writeFileSync(ownFile, String(process.pid));
  writeFileSync(nextFile, '999999999');
  try {
    taker.child.stdin.write('go\n');
    const port = Number(await taker.line(1));
    assert.equal(Math.floor((port - 20000) / 100), next, `port ${port}: the next slice, not the held one (${own})`);
    await once(taker.child, 'exit');
    assert.equal(existsSync(nextFile), false, 'the slice is given back when the process exits');
  } finally {
    rmSync(ownFile, { force: true });
    rmSync(nextFile, { force: true });
  }
});
