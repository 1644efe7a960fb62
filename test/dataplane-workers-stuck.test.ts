// A worker process that stops answering (here: stopped with SIGSTOP) is killed once
// workerAnswerTimeoutMs has passed and replaced; apply() then resolves with every current worker
// running the generation, instead of waiting for the stuck one forever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let b: EchoBackend;
let dp: DataPlane;
let port: number;

const gen = (n: number) => ir(n, [listener('http', port, { '*': [route('r', match(), [to(n % 2 ? 'a' : 'b')])] })], [backend('a', a), backend('b', b)]);
const liveWorkers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());

before(async () => {
  [a, b] = await Promise.all([startEcho('a'), startEcho('b')]);
  port = await freePort();
  dp = await createDataPlane({ workers: 2, workerAnswerTimeoutMs: 1_500 });
  await dp.apply(gen(1));
});

after(async () => {
  for (const w of liveWorkers()) w.process.kill('SIGCONT');
  await dp?.close();
  await Promise.all([a?.close(), b?.close()]);
});

test('a stuck worker is killed and replaced; apply() resolves with every worker on the generation', { timeout: 30_000 }, async () => {
  const stuck = liveWorkers()[0];
  stuck.process.kill('SIGSTOP');
  const res = await dp.apply(gen(2));
  assert.equal(res.generation, 2);
  assert.ok(stuck.isDead(), 'the stuck worker was killed');
  assert.equal(liveWorkers().length, 2);
  assert.match(await dp.metrics(), /portico_config_generation 2\n/);
  // Connections are spread over both workers: none is served by the stopped one's generation.
  const names = await Promise.all(Array.from({ length: 16 }, () => request(port, '/', { host: 'x' }).then((r) => r.json().name)));
  assert.deepEqual(new Set(names), new Set(['b']));
});
