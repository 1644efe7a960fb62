// Compiled output is reused across applies for IR objects that kept their identity (what the
// incremental translator hands over): a one-route change recompiles that route only, and what
// is reused still serves the right backends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile, newCompileCache, type CompileContext } from '../src/dataplane/compile.ts';
import { Metrics } from '../src/dataplane/metrics.ts';
import { PoolRegistry } from '../src/dataplane/upstream/pools.ts';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import type { Generation, RouteRuntime } from '../src/dataplane/model.ts';
import type { IR } from '../src/ir/types.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let b: EchoBackend;
let dp: DataPlane;

before(async () => {
  [a, b] = await Promise.all([startEcho('a'), startEcho('b')]);
  dp = await createDataPlane({ workers: 0 });
});

after(async () => {
  await dp?.close();
  await Promise.all([a?.close(), b?.close()]);
});

/** Every route of a generation by its label. */
function routesOf(gen: Generation): Map<string, RouteRuntime> {
  const out = new Map<string, RouteRuntime>();
  for (const port of gen.ports.values()) {
    for (const host of ['one.example', 'two.example', 'three.example']) {
      const l = port.listeners.lookup(host);
      const vh = l?.vhosts.lookup(host);
      for (const r of vh?.routes ?? []) out.set(r.label, r);
    }
  }
  return out;
}

test('compile: unchanged route and backend objects are reused, changed ones recompiled', async () => {
  const pools = new PoolRegistry();
  const metrics = new Metrics();
  const cache = newCompileCache();
  let seq = 0;
  const run = (x: IR) => {
    metrics.seq = ++seq;
    const cx: CompileContext = { bindAddress: '127.0.0.1', pools, metrics, tlsCache: new Map(), tlsUsed: new Map(), seq, cache };
    return routesOf(compile(x, cx));
  };
  const r1 = route('r1', match(), [to('a')]);
  const r2 = route('r2', match(), [to('b')]);
  const ba = backend('a', a);
  const bb = backend('b', b);
  const first = run(ir(1, [listener('http', 1, { 'one.example': [r1], 'two.example': [r2] })], [ba, bb]));
  // A new route on a new host: the two others are the very same compiled objects.
  const r3 = route('r3', match(), [to('a')]);
  const second = run(ir(2, [listener('http', 1, { 'one.example': [r1], 'two.example': [r2], 'three.example': [r3] })], [ba, bb]));
  assert.equal(second.get('default/r1/0'), first.get('default/r1/0'));
  assert.equal(second.get('default/r2/0'), first.get('default/r2/0'));
  assert.ok(second.get('default/r3/0'));
  // A backend object replaced (new endpoints): the routes using it are recompiled, others not.
  const bb2 = backend('b', a);
  const third = run(ir(3, [listener('http', 1, { 'one.example': [r1], 'two.example': [r2], 'three.example': [r3] })], [ba, bb2]));
  assert.equal(third.get('default/r1/0'), first.get('default/r1/0'));
  assert.notEqual(third.get('default/r2/0'), first.get('default/r2/0'));
  assert.equal(third.get('default/r2/0')!.choices[0].backend!.endpoints[0].port, a.port);
  // The same route object on another listener name is compiled for that listener.
  const fourth = run(ir(4, [listener('other', 1, { 'one.example': [r1] })], [ba, bb2]));
  assert.notEqual(fourth.get('default/r1/0'), first.get('default/r1/0'));
  await pools.close();
});

test('compile: a listener whose virtualHosts array is unchanged keeps its host table while its backends are the same', async () => {
  const pools = new PoolRegistry();
  const metrics = new Metrics();
  const cache = newCompileCache();
  let seq = 0;
  const table = (x: IR) => {
    metrics.seq = ++seq;
    const gen = compile(x, { bindAddress: '127.0.0.1', pools, metrics, tlsCache: new Map(), tlsUsed: new Map(), seq, cache });
    return [...gen.ports.values()][0].listeners.lookup('one.example')!.vhosts;
  };
  const l = listener('http', 1, { 'one.example': [route('r1', match(), [to('a')])] });
  const ba = backend('a', a);
  const first = table(ir(1, [l], [ba]));
  assert.equal(table(ir(2, [l], [ba])), first);
  const changed = table(ir(3, [l], [backend('a', b)]));
  assert.notEqual(changed, first);
  assert.equal(changed.lookup('one.example')!.routes[0].choices[0].backend!.endpoints[0].port, b.port);
  // Another array with the same content is another listener version: built again.
  assert.notEqual(table(ir(4, [{ ...l, virtualHosts: [...l.virtualHosts] }], [backend('a', b)])), changed);
  await pools.close();
});

test('compile: a reused route whose metric series was pruned gets a fresh, registered one', async () => {
  const pools = new PoolRegistry();
  const metrics = new Metrics();
  const cache = newCompileCache();
  let seq = 0;
  const r1 = route('r1', match(), [to('a')]);
  const ba = backend('a', a);
  const with1 = ir(1, [listener('http', 1, { 'one.example': [r1] })], [ba]);
  const without = ir(2, [listener('http', 1, {})], [ba]);
  const run = (x: IR) => {
    metrics.seq = ++seq;
    const gen = compile(x, { bindAddress: '127.0.0.1', pools, metrics, tlsCache: new Map(), tlsUsed: new Map(), seq, cache });
    metrics.prune(2);
    return routesOf(gen);
  };
  const first = run(with1).get('default/r1/0')!;
  for (let i = 0; i < 5; i++) run(without);
  const again = run(with1).get('default/r1/0')!;
  assert.notEqual(again, first, 'the pruned series is not reused');
  again.counter.counts[2]++;
  assert.match(metrics.render(), /route="default\/r1",rule="0",backend="",code="2xx"} 1/);
  await pools.close();
});

test('data plane: after a one-route change the new route and the old ones all answer', async () => {
  const port = await freePort();
  const ba = backend('a', a);
  const bb = backend('b', b);
  const routes = Array.from({ length: 20 }, (_, i) => route(`r${i}`, match({ type: 'PathPrefix', value: `/r${i}` }), [to(i % 2 === 0 ? 'a' : 'b')]));
  await dp.apply(ir(1, [listener('http', port, { '*': routes })], [ba, bb]));
  const added = route('new', match({ type: 'PathPrefix', value: '/new' }), [to('b')]);
  await dp.apply(ir(2, [listener('http', port, { '*': [...routes, added] })], [ba, bb]));
  assert.equal((await request(port, '/new', { host: 'x' })).json().name, 'b');
  for (const i of [0, 1, 19]) assert.equal((await request(port, `/r${i}`, { host: 'x' })).json().name, i % 2 === 0 ? 'a' : 'b');
  // The same route objects, with backend "a" now pointing at the other echo server.
  await dp.apply(ir(3, [listener('http', port, { '*': [...routes, added] })], [backend('a', b), bb]));
  assert.equal((await request(port, '/r0', { host: 'x' })).json().name, 'b');
});
