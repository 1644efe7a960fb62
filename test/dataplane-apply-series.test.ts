// Applies skip visiting the metric series of listener tables they reuse, except before a sweep of
// stale series (engine.ts, compile.ts reusable()): the series of a listener that never changes
// must still be there, and counting, after many applies that changed only another listener.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let dp: DataPlane;

before(async () => {
  a = await startEcho('a');
  dp = await createDataPlane({ workers: 0 });
});

after(async () => {
  await dp?.close();
  await a?.close();
});

test('a listener left unchanged by 40 applies keeps its metric series', async () => {
  const [p1, p2] = [await freePort(), await freePort()];
  const ba = backend('a', a);
  const steady = listener('steady', p1, { '*': [route('steady', match(), [to('a')])] });
  for (let n = 1; n <= 40; n++) {
    // The other listener gets a new route each time (new IR objects); `steady` is the same object.
    const busy = listener('busy', p2, { '*': [route(`busy-${n}`, match(), [to('a')])] });
    await dp.apply(ir(n, [steady, busy], [ba]));
    if (n === 1 || n === 23) assert.equal((await request(p1, '/', { host: 'x' })).status, 200);
  }
  assert.equal((await request(p1, '/', { host: 'x' })).status, 200);
  const text = await dp.metrics();
  const line = text.split('\n').find((l) => l.startsWith('portico_http_requests_total{') && l.includes('route="default/steady"') && l.includes('code="2xx"'));
  assert.ok(line, 'the steady route has a series');
  assert.match(line, / 3$/, 'and it counted all three requests');
  assert.doesNotMatch(text, /route="default\/busy-1"/, 'series of routes gone long ago are dropped');
});
