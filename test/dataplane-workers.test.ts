// Multi-process data plane: cluster workers share the listening sockets, each gets every
// generation, apply() resolves when all run it, and a dead worker is replaced with the live config.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let b: EchoBackend;
let dp: DataPlane;
let port: number;

const gen = (n: number) => ir(n, [listener('http', port, { '*': [route('r', match(), [to(n % 2 ? 'a' : 'b')])] })], [backend('a', a), backend('b', b)]);

before(async () => {
  [a, b] = await Promise.all([startEcho('a'), startEcho('b')]);
  port = await freePort();
  dp = await createDataPlane({ workers: 2, clientBodyTimeoutMs: 800 });
});

after(async () => {
  await dp?.close();
  await Promise.all([a?.close(), b?.close()]);
});

test('every worker serves the generation apply() resolved with', async () => {
  await dp.apply(gen(1));
  for (let n = 2; n <= 5; n++) {
    await dp.apply(gen(n));
    const names = await Promise.all(Array.from({ length: 8 }, () => request(port, '/', { host: 'x' }).then((r) => r.json().name)));
    assert.deepEqual(new Set(names), new Set([n % 2 ? 'a' : 'b']), `generation ${n}`);
  }
  const text = await dp.metrics();
  assert.match(text, /portico_http_requests_total\{[^}]*backend="a"[^}]*\} 16/, 'counts summed over workers');
  assert.match(text, /portico_config_generation 5/);
});

test('a worker that dies is replaced and gets the live generation', async () => {
  const victim = Object.values(cluster.workers ?? {})[0]!;
  const replaced = new Promise<void>((resolve) => cluster.once('online', () => resolve()));
  victim.process.kill('SIGKILL');
  await replaced;
  // the generation gauge is the lowest over workers: it is back at 5 once the new one applied it
  let text = '';
  for (let i = 0; i < 100 && !/portico_config_generation 5\n/.test(text); i++) {
    await new Promise((r) => setTimeout(r, 50));
    text = await dp.metrics();
  }
  assert.match(text, /portico_config_generation 5\n/);
  const names = await Promise.all(Array.from({ length: 8 }, () => request(port, '/', { host: 'x' }).then((r) => r.json().name)));
  assert.deepEqual(new Set(names), new Set(['a']));
});

const liveWorkers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());

/** Which backend each of `n` requests over fresh connections reached (connections are spread over the workers). */
const names = (n: number) => Promise.all(Array.from({ length: n }, () => request(port, '/', { host: 'x' }).then((r) => r.json().name)));

test('a worker killed during apply(): apply() resolves once its replacement runs the generation too', async () => {
  await dp.apply(gen(6)); // backend b
  const victim = liveWorkers()[0];
  const applying = dp.apply(gen(7)); // backend a
  victim.process.kill('SIGKILL'); // before it could have answered: it dies with the apply in flight
  const res = await applying;
  assert.equal(res.generation, 7);
  // At once, no polling: the gauge is the lowest generation over the current workers, and the
  // replacement is one of them; before the fix it was still starting (generation 0).
  assert.match(await dp.metrics(), /portico_config_generation 7\n/);
  assert.equal(liveWorkers().length, 2);
  assert.ok(!liveWorkers().includes(victim));
  assert.deepEqual(new Set(await names(24)), new Set(['a']));
});

test('a worker that fails to apply a generation is sent it again; apply() resolves only when every worker runs it', async () => {
  // Backend objects shared by both generations: the second one refers to them as parts the
  // workers already hold (ir-wire.ts) instead of sending them again.
  const shared = [backend('a', a), backend('b', b)];
  const g = (n: number, to_: string) => ir(n, [listener('http', port, { '*': [route('r', match(), [to(to_)])] })], shared);
  await dp.apply(g(8, 'a'));
  // Put one worker out of step, as a lost message would: an apply naming a part it never held
  // fails there and it forgets every part (worker.ts). The next generation, sent to it as
  // references to those parts, then fails in that worker only.
  const odd = liveWorkers()[0];
  const answered = new Promise<{ error?: string }>((resolve) => {
    const on = (m: { type: string; id: number; error?: string }) => {
      if (m.type === 'portico:applied' && m.id === -1) { odd.off('message', on); resolve(m); }
    };
    odd.on('message', on);
  });
  odd.send({ type: 'portico:apply', id: -1, ir: { ir: { generation: -1, gateways: [], backends: {} }, vhosts: [], backends: { x: { ref: 1e9 } } } });
  assert.match((await answered).error ?? '', /unknown to this worker/);
  const res = await dp.apply(g(9, 'b'));
  assert.equal(res.generation, 9);
  assert.match(await dp.metrics(), /portico_config_generation 9\n/);
  // Before the fix, the failing worker kept serving generation 8 (backend a) for its share.
  assert.deepEqual(new Set(await names(24)), new Set(['b']));
});

test('workers that keep dying while a generation is applied reject apply() instead of hanging; replacements come back', { timeout: 60_000 }, async () => {
  const killer = (w: Worker) => { w.process.kill('SIGKILL'); };
  cluster.on('fork', killer); // every replacement dies at once
  try {
    const applying = dp.apply(gen(11));
    for (const w of liveWorkers()) w.process.kill('SIGKILL');
    await assert.rejects(applying, /keep dying/);
  } finally {
    cluster.off('fork', killer);
  }
  // The rejected generation 11 is rolled back: the replacements (forked more slowly after a
  // crash loop) are brought to generation 9, the last one every worker ran, not to 11.
  let text = '';
  for (let i = 0; i < 300 && !(liveWorkers().length === 2 && /portico_config_generation 9\n/.test(text)); i++) {
    await new Promise((r) => setTimeout(r, 50));
    text = await dp.metrics();
  }
  assert.match(text, /portico_config_generation 9\n/);
  assert.deepEqual(new Set(await names(16)), new Set(['b']), 'generation 9 (backend b) serves, not the rejected 11 (a)');
  const res = await dp.apply(gen(12));
  assert.equal(res.generation, 12);
  assert.equal(liveWorkers().length, 2);
  assert.match(await dp.metrics(), /portico_config_generation 12\n/);
  assert.deepEqual(new Set(await names(16)), new Set(['b']));
});

test('the workers get the data-plane options: a body stalled past clientBodyTimeoutMs is answered 408', async () => {
  await dp.apply(gen(13));
  const answer = await new Promise<string>((resolve) => {
    let got = '';
    const sock = net.connect(port, '127.0.0.1', () => sock.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nfirst bytes;'));
    sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    sock.on('error', () => {});
    sock.on('close', () => resolve(got));
    // Far beyond 800 ms plus the once-a-second sweep, far below the 60 s default.
    setTimeout(() => sock.destroy(), 10_000).unref();
  });
  assert.match(answer, /^HTTP\/1\.1 408 /);
});
