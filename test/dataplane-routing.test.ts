// Data plane end to end: listeners, host and path matching, precedence, listener isolation, 404,
// invalid backends (500), weights. Real echo backends in child processes, real sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let b: EchoBackend;
let c: EchoBackend;
let dp: DataPlane;
let port: number;

before(async () => {
  [a, b, c] = await Promise.all([startEcho('a'), startEcho('b'), startEcho('c')]);
  port = await freePort();
  dp = await createDataPlane({ workers: 0, debugHeaders: true });
  const backends = [backend('a', a), backend('b', b), backend('c', c)];
  const res = await dp.apply(ir(1, [
    listener('foo', port, {
      'foo.example.com': [
        route('exact', match({ type: 'Exact', value: '/exact' }), [to('b')]),
        route('long', match({ type: 'PathPrefix', value: '/v1/users' }), [to('c')]),
        route('v1', match({ type: 'PathPrefix', value: '/v1/' }), [to('b')]),
        route('hdr', match({ type: 'PathPrefix', value: '/' }, { headers: [{ name: 'x-version', type: 'Exact', value: 'two' }] }), [to('c')]),
        route('re-hdr', match({ type: 'PathPrefix', value: '/' }, { headers: [{ name: 'x-re', type: 'RegularExpression', value: 'v[0-9]+' }] }), [to('b')]),
        route('query', match({ type: 'PathPrefix', value: '/' }, { queryParams: [{ name: 'animal', type: 'Exact', value: 'whale' }] }), [to('c')]),
        route('method', match({ type: 'PathPrefix', value: '/' }, { method: 'POST' }), [to('b')]),
        route('regex', match({ type: 'RegularExpression', value: '/re/[a-z]+/[0-9]{2}' }), [to('c')]),
        route('root', match(), [to('a')]),
      ],
    }, { hostname: 'foo.example.com' }),
    listener('wild', port, {
      '*.example.com': [route('wild', match(), [to('b')])],
    }, { hostname: '*.example.com' }),
    listener('any', port, {
      'only.test': [route('only', match(), [to('c')])],
      '*': [
        route('invalid', match({ type: 'PathPrefix', value: '/invalid' }), [{ weight: 1, invalidStatus: 500, filters: [] }]),
        route('none', match({ type: 'PathPrefix', value: '/nobackends' }), []),
        route('half', match({ type: 'PathPrefix', value: '/half' }), [to('a', 1), { weight: 1, invalidStatus: 500, filters: [] }]),
        route('weights', match({ type: 'PathPrefix', value: '/weights' }), [to('a', 70), to('b', 30), to('c', 0)]),
        route('catchall', match({ type: 'PathPrefix', value: '/catch' }), [to('a')]),
      ],
    }),
  ], backends));
  assert.deepEqual(res.bindErrors, {});
});

after(async () => {
  await dp?.close();
  await Promise.all([a?.close(), b?.close(), c?.close()]);
});

async function who(path: string, o: Parameters<typeof request>[2] = {}): Promise<string> {
  const r = await request(port, path, { host: 'foo.example.com', ...o });
  assert.equal(r.status, 200, `${path}: ${r.body}`);
  return r.json().name;
}

test('path precedence: exact, longest prefix with whole segments, then the rest', async () => {
  assert.equal(await who('/exact'), 'b');
  assert.equal(await who('/exact/more'), 'a');
  assert.equal(await who('/v1/users/7'), 'c');
  assert.equal(await who('/v1/usersX'), 'b');
  assert.equal(await who('/v1'), 'b', 'prefix "/v1/" ignores its trailing slash');
  assert.equal(await who('/v1x'), 'a');
  assert.equal(await who('/re/abc/12'), 'c');
  assert.equal(await who('/re/abc/123'), 'a', 'regex is a full match');
});

test('dot segments cannot smuggle a request past its route', async () => {
  const r = await request(port, '/v1/../exact', { host: 'foo.example.com' });
  assert.equal(r.json().name, 'b', 'routed as /exact');
  assert.equal(r.json().path, '/exact', 'and forwarded as /exact');
});

test('header, query and method matches', async () => {
  assert.equal(await who('/x', { headers: { 'X-Version': 'two' } }), 'c');
  assert.equal(await who('/x', { headers: { 'x-version': 'three' } }), 'a');
  assert.equal(await who('/x', { headers: { 'x-re': 'v12' } }), 'b');
  assert.equal(await who('/x', { headers: { 'x-re': 'w12' } }), 'a');
  assert.equal(await who('/x?animal=whale'), 'c');
  assert.equal(await who('/x?animal=dolphin&animal=whale'), 'a', 'first value of a query param counts');
  assert.equal(await who('/x', { method: 'POST', body: 'hi' }), 'b');
});

test('host selects one listener: exact, then wildcard, then no hostname; never falls through', async () => {
  assert.equal(await who('/', { host: 'FOO.example.com:8080' }), 'a', 'Host port and case ignored');
  assert.equal(await who('/', { host: 'bar.example.com' }), 'b');
  assert.equal(await who('/', { host: 'a.b.example.com' }), 'b', 'wildcard matches several labels');
  assert.equal(await who('/', { host: 'only.test' }), 'c');
  assert.equal(await who('/catch', { host: 'elsewhere.test' }), 'a');
  // the wildcard listener has no /catch route; the catch-all listener has, but is never used
  const r = await request(port, '/catch/x', { host: 'bar2.example.com', headers: {} });
  assert.equal(r.json().name, 'b');
  const r2 = await request(port, '/catch', { host: 'example.com' });
  assert.equal(r2.status, 200, 'example.com is not matched by *.example.com');
});

test('404 without a matching route or host', async () => {
  const r = await request(port, '/nothing', { host: 'elsewhere.test' });
  assert.equal(r.status, 404);
});

test('invalid backends and rules without backends answer 500', async () => {
  assert.equal((await request(port, '/invalid', { host: 'x.test' })).status, 500);
  assert.equal((await request(port, '/nobackends', { host: 'x.test' })).status, 500);
  const counts = { 200: 0, 500: 0 } as Record<number, number>;
  for (let i = 0; i < 60; i++) counts[(await request(port, '/half', { host: 'x.test' })).status]++;
  assert.ok(counts[200] > 10 && counts[500] > 10, JSON.stringify(counts));
});

test('weights: 70/30 split, weight 0 never chosen', async () => {
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  const n = 300;
  for (let i = 0; i < n; i += 30) {
    const batch = await Promise.all(Array.from({ length: 30 }, () => request(port, '/weights', { host: 'x.test' })));
    for (const r of batch) counts[r.json().name]++;
  }
  assert.equal(counts.c, 0);
  // binomial(300, 0.7): sd ≈ 7.9; 5 sd of tolerance
  assert.ok(Math.abs(counts.a - 210) < 40, JSON.stringify(counts));
});

test('forwarding headers and debug header', async () => {
  const r = await request(port, '/x?y=1', { host: 'foo.example.com', headers: { connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-forwarded-for': '10.0.0.1' } });
  const e = r.json();
  assert.equal(e.path, '/x?y=1');
  assert.equal(e.host, 'foo.example.com');
  assert.equal(e.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
  assert.equal(e.headers['x-forwarded-proto'], 'http');
  assert.equal(e.headers['x-forwarded-host'], 'foo.example.com');
  assert.equal(e.headers['x-hop'], undefined, 'headers named by Connection are hop-by-hop');
  assert.equal(r.headers['x-portico-route'], 'default/root/0');
});

test('metrics count requests by route and status class', async () => {
  const text = await dp.metrics();
  assert.match(text, /portico_http_requests_total\{gateway="default\/gw",listener="foo",route="default\/exact",rule="0",backend="b",code="2xx"\} \d+/);
  assert.match(text, /portico_config_generation 1/);
});

test('regular expressions run on RE2: /(a+)+$ against 10,000 a\'s and a "!" answers 404 at once; (?i) flags work', async () => {
  // A backtracking engine takes exponential time on this input (it would never answer); RE2 is
  // linear. The bound is generous: it tells "answered" from "hung", it is no timing target.
  const own = await createDataPlane({ workers: 0 });
  const p = await freePort();
  try {
    await own.apply(ir(1, [listener('re', p, {
      '*': [
        route('evil', match({ type: 'RegularExpression', value: '/(a+)+$' }), [to('a')]),
        route('flags', match({ type: 'RegularExpression', value: '(?i)/abc' }), [to('b')]),
      ],
    })], [backend('a', a), backend('b', b)]));
    const started = Date.now();
    const r = await request(p, '/' + 'a'.repeat(10_000) + '!', { host: 'x.test' });
    assert.equal(r.status, 404);
    assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
    assert.equal((await request(p, '/' + 'a'.repeat(10_000), { host: 'x.test' })).json().name, 'a');
    assert.equal((await request(p, '/ABC', { host: 'x.test' })).json().name, 'b');
  } finally {
    await own.close();
  }
});
