// Multi-process data plane: cluster workers share the listening sockets, each gets every
// generation, apply() resolves when all run it, and a dead worker is replaced with the live config.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
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
  dp = await createDataPlane({ workers: 2 });
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
