// Data plane upstream behaviour end to end: timeouts (504), retries on codes and on connection
// resets, session persistence by cookie and header, endpoints round-robin, no endpoints (503),
// and bad client traffic refused before it reaches a backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, raw, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let a2: EchoBackend;
let b: EchoBackend;
let dp: DataPlane;
let port: number;
let deadPort: number;
const prefix = (value: string) => match({ type: 'PathPrefix', value });

before(async () => {
  [a, a2, b] = await Promise.all([startEcho('a'), startEcho('a2'), startEcho('b')]);
  [port, deadPort] = await Promise.all([freePort(), freePort()]);
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [
    listener('http', port, {
      '*': [
        route('req-timeout', prefix('/req-timeout'), [to('a')], { timeouts: { requestMs: 300 } }),
        route('be-timeout', prefix('/be-timeout'), [to('a')], { timeouts: { backendRequestMs: 300 } }),
        route('retry', prefix('/retry'), [to('a')], { retry: { codes: [500, 502, 503], attempts: 2 } }),
        route('noretry', prefix('/noretry'), [to('a')]),
        route('retry-timeout', prefix('/rt'), [to('a')], { retry: { codes: [504], attempts: 2 }, timeouts: { backendRequestMs: 300 } }),
        route('cookie', prefix('/cookie'), [to('pair'), to('b')], { sessionPersistence: { type: 'Cookie', name: 'sticky' } }),
        route('short', prefix('/short'), [to('pair')], { sessionPersistence: { type: 'Cookie', name: 's', absoluteTimeoutMs: 300 } }),
        route('header', prefix('/header'), [to('pair')], { sessionPersistence: { type: 'Header', name: 'X-Session' } }),
        route('rr', prefix('/rr'), [to('pair')]),
        route('empty', prefix('/empty'), [to('empty')]),
        route('half-dead', prefix('/half-dead'), [to('half-dead')]),
        route('any', prefix('/'), [to('b')]),
      ],
    }),
  ], [backend('a', a), backend('b', b), backend('pair', [a, a2]), { ...backend('empty', a), endpoints: [] },
    { ...backend('half-dead', a), endpoints: [{ address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: deadPort }] }]));
});

after(async () => {
  await dp?.close();
  await Promise.all([a?.close(), a2?.close(), b?.close()]);
});

test('request timeout and backend request timeout answer 504; fast requests pass', async () => {
  assert.equal((await request(port, '/req-timeout?delay=1000', { host: 'x' })).status, 504);
  assert.equal((await request(port, '/be-timeout?delay=1000', { host: 'x' })).status, 504);
  assert.equal((await request(port, '/req-timeout?delay=10', { host: 'x' })).status, 200);
  // backendRequest covers the whole response: a body that stalls past it is cut
  await assert.rejects(request(port, '/be-timeout?stall=1000', { host: 'x' }));
  assert.equal((await request(port, '/be-timeout?stall=50', { host: 'x' })).body, 'start;end');
});

test('retry on listed codes up to attempts, then the last answer', async () => {
  const ok = await request(port, '/retry?uuid=r1&succeedAfter=2&responseCode=503', { host: 'x' });
  assert.equal(ok.status, 200, 'two failures, two retries');
  const fail = await request(port, '/retry?uuid=r2&succeedAfter=3&responseCode=503', { host: 'x' });
  assert.equal(fail.status, 503, 'three failures exceed two retries');
  const notListed = await request(port, '/retry?uuid=r3&succeedAfter=1&responseCode=504', { host: 'x' });
  assert.equal(notListed.status, 504);
  const post = await request(port, '/retry?uuid=r4&succeedAfter=1&responseCode=500', { host: 'x', method: 'POST', body: 'again' });
  assert.equal(post.status, 200);
  assert.equal(post.json().body, 'again', 'the buffered body is sent again');
  const big = 'y'.repeat(2 << 20);
  const large = await request(port, '/retry?uuid=r5&succeedAfter=0', { host: 'x', method: 'POST', body: big });
  assert.equal(large.status, 200, 'a body over the retry buffer limit is streamed, not refused');
  assert.equal(large.json().body.length, big.length);
});

test('an attempt cut by backendRequest timeout is retried when 504 is a retry code', async () => {
  // the echo delays every attempt: each times out, so 3 attempts, then 504
  const t0 = performance.now();
  const r = await request(port, '/rt/retry?delay=1000&uuid=t1', { host: 'x' });
  assert.equal(r.status, 504);
  assert.ok(performance.now() - t0 >= 850, 'three attempts of 300 ms');
  const seen = (await a.log()).filter((e) => e.path.includes('uuid=t1'));
  assert.equal(seen.length, 3);
});

test('retry on connection resets; without retry a reset is a 502', async () => {
  const ok = await request(port, '/retry?uuid=c1&succeedAfter=1', { host: 'x' });
  assert.equal(ok.status, 200);
  const bad = await request(port, '/noretry/retry?uuid=c2&succeedAfter=1', { host: 'x' });
  assert.equal(bad.status, 502);
});

test('endpoints are used round-robin; no ready endpoints is 503', async () => {
  const names = new Set<string>();
  for (let i = 0; i < 4; i++) names.add((await request(port, '/rr', { host: 'x' })).json().name);
  assert.deepEqual([...names].sort(), ['a', 'a2']);
  assert.equal((await request(port, '/empty', { host: 'x' })).status, 503);
});

test('passive health: an endpoint refusing connections is skipped after its first failure', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await request(port, '/half-dead', { host: 'x' })).status);
  assert.ok(statuses.filter((s) => s !== 200).length <= 1, statuses.join(','));
});

test('session persistence by cookie pins the backend and endpoint', async () => {
  const first = await request(port, '/cookie', { host: 'x' });
  const setCookie = first.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /^sticky=[^;]+; Path=\/; HttpOnly/);
  const cookie = setCookie.split(';')[0];
  const name = first.json().name;
  for (let i = 0; i < 8; i++) {
    const r = await request(port, '/cookie', { host: 'x', headers: { cookie: `other=1; ${cookie}` } });
    assert.equal(r.json().name, name);
    assert.equal(r.headers['set-cookie'], undefined, 'no new cookie while the session holds');
  }
});

test('session persistence: an expired session (absoluteTimeout) starts a new one', async () => {
  const first = await request(port, '/short', { host: 'x' });
  const cookie = String(first.headers['set-cookie']?.[0]).split(';')[0];
  const again = await request(port, '/short', { host: 'x', headers: { cookie } });
  assert.equal(again.headers['set-cookie'], undefined);
  await new Promise((r) => setTimeout(r, 400));
  const later = await request(port, '/short', { host: 'x', headers: { cookie } });
  assert.match(String(later.headers['set-cookie']?.[0]), /^s=/, 'a new session cookie');
  assert.notEqual(String(later.headers['set-cookie']?.[0]).split(';')[0], cookie);
});

test('session persistence: idleTimeout keeps a session in use alive and ends one left idle', async () => {
  const own = await createDataPlane({ workers: 0 });
  const p = await freePort();
  const IDLE = 1000;
  try {
    await own.apply(ir(1, [listener('idle', p, {
      '*': [route('idle', prefix('/'), [to('pair')], { sessionPersistence: { type: 'Cookie', name: 'idle', idleTimeoutMs: IDLE } })],
    })], [backend('pair', [a, a2])]));
    /** The session's start, from the token (backend, endpoint, start, last use; base36 times). */
    const started = (cookie: string) => Buffer.from(cookie.slice('idle='.length), 'base64url').toString().split('\n')[2];
    const first = await request(p, '/', { host: 'x' });
    let cookie = String(first.headers['set-cookie']?.[0]).split(';')[0];
    const pinned = first.json().name;
    const session = started(cookie);
    // Used every 250 ms for longer than the idle timeout: still the same session and endpoint
    // (each answer renews the cookie's last use).
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const r = await request(p, '/', { host: 'x', headers: { cookie } });
      assert.equal(r.json().name, pinned, `use ${i}`);
      const renewed = r.headers['set-cookie']?.[0];
      if (renewed !== undefined) cookie = renewed.split(';')[0];
      assert.equal(started(cookie), session, 'the same session');
    }
    await new Promise((r) => setTimeout(r, IDLE + 300));
    // Left idle longer than the timeout: the cookie pins nothing any more. Each request starts a
    // new session, and round-robin reaches both endpoints.
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await request(p, '/', { host: 'x', headers: { cookie } });
      names.add(r.json().name);
      const fresh = String(r.headers['set-cookie']?.[0]).split(';')[0];
      assert.match(fresh, /^idle=/, 'a new session cookie');
      assert.notEqual(started(fresh), session, 'a new session');
    }
    assert.deepEqual(names, new Set(['a', 'a2']));
  } finally {
    await own.close();
  }
});

test('session persistence by header', async () => {
  const first = await request(port, '/header', { host: 'x' });
  const token = first.headers['x-session'] as string;
  assert.ok(token);
  for (let i = 0; i < 6; i++) {
    const r = await request(port, '/header', { host: 'x', headers: { 'x-session': token } });
    assert.equal(r.json().name, first.json().name);
  }
});

test('bad traffic: oversized headers 431, malformed 400, CL with TE refused and never forwarded', async () => {
  const big = await request(port, '/', { host: 'x', headers: { 'x-big': 'y'.repeat(20_000) } }).catch(() => undefined);
  assert.equal(big?.status, 431);
  const malformed = await raw(port, 'GET /\r\nHost x\r\n\r\n');
  assert.match(malformed, /^HTTP\/1\.1 400/);
  const before = (await b.log()).length;
  const smuggle = await raw(port, 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /evil HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(smuggle, /^HTTP\/1\.1 400/);
  const after = await b.log();
  assert.equal(after.length, before, JSON.stringify(after.slice(before)));
});

test('BackendTLSPolicy: TLS to the backend verified against the CA and SNI; a wrong CA fails, an invalid policy is 500; gateway client certificate', async () => {
  const https = await import('node:https');
  const { makeCA, makeCert } = await import('./support/tls-certs.ts');
  const ca = await makeCA();
  const other = await makeCA('Other');
  const leaf = await makeCert(ca, { dns: ['backend.example'] });
  const gatewayCert = await makeCert(ca, { cn: 'gateway', client: true });
  const srv = https.createServer({ cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as import('node:tls').TLSSocket;
    res.end(JSON.stringify({ sni: sock.servername, host: req.headers.host, client: sock.authorized ? sock.getPeerCertificate().subject.CN : null }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const tlsPort = (srv.address() as import('node:net').AddressInfo).port;
  const p = await freePort();
  const local = await createDataPlane({ workers: 0 });
  const tlsBackend = (id: string, tls: NonNullable<import('../src/ir/types.ts').IRBackend['tls']>) => ({
    id, source: { kind: 'Service', namespace: 'default', name: id }, protocol: 'http1' as const,
    endpoints: [{ address: '127.0.0.1', port: tlsPort }], tls,
  });
  const src = { kind: 'BackendTLSPolicy', namespace: 'default', name: 'p' };
  try {
    const model = ir(1, [listener('http', p, { '*': [
      route('good', match({ type: 'PathPrefix', value: '/good' }), [to('good')]),
      route('wrong', match({ type: 'PathPrefix', value: '/wrong' }), [to('wrong')]),
      route('invalid', match({ type: 'PathPrefix', value: '/invalid' }), [to('invalid')]),
    ] })], [
      tlsBackend('good', { sni: 'backend.example', caPem: ca.certPem, source: src }),
      tlsBackend('wrong', { sni: 'backend.example', caPem: other.certPem, source: src }),
      tlsBackend('invalid', { sni: 'backend.example', invalid: true, source: src }),
    ]);
    model.gateways[0].backendClientCertificate = { certPem: gatewayCert.certPem, keyPem: gatewayCert.keyPem, source: { kind: 'Secret', name: 'gw-client' } };
    await local.apply(model);
    const good = await request(p, '/good', { host: 'front.test' });
    assert.equal(good.status, 200);
    assert.equal(JSON.parse(good.body).sni, 'backend.example');
    assert.equal(JSON.parse(good.body).client, 'gateway', 'the Gateway client certificate is presented');
    assert.equal((await request(p, '/wrong', { host: 'front.test' })).status, 502);
    assert.equal((await request(p, '/invalid', { host: 'front.test' })).status, 500);
  } finally {
    await local.close();
    srv.close();
  }
});

test('clients that vanish mid-body or mid-response never take the data plane down', async () => {
  const net = await import('node:net');
  const cut = (path: string, body: string) => new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${body}`);
      setTimeout(() => { s.destroy(); resolve(); }, 50);
    });
    s.on('error', () => resolve());
  });
  await cut('/retry?uuid=v1', 'partial');
  await cut('/noretry', 'partial');
  await cut('/any', 'partial');
  const s = net.connect(port, '127.0.0.1', () => s.write('GET /be-timeout?delay=200 HTTP/1.1\r\nHost: x\r\n\r\n'));
  s.on('error', () => {});
  setTimeout(() => s.destroy(), 20);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await request(port, '/', { host: 'x' })).status, 200);
});

test('TLS backend speaking HTTP/2 (protocol h2, negotiated by ALPN)', async () => {
  const http2 = await import('node:http2');
  const { makeCA, makeCert } = await import('./support/tls-certs.ts');
  const ca = await makeCA();
  const leaf = await makeCert(ca, { dns: ['h2.backend'] });
  const srv = http2.createSecureServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => res.end(`HTTP/${req.httpVersion} ${req.headers[':authority']}`));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const h2Port = (srv.address() as import('node:net').AddressInfo).port;
  const p = await freePort();
  const local = await createDataPlane({ workers: 0 });
  try {
    await local.apply(ir(1, [listener('http', p, { '*': [route('h2', match(), [to('h2')])] })], [{
      id: 'h2', source: { kind: 'Service', namespace: 'default', name: 'h2' }, protocol: 'h2',
      endpoints: [{ address: '127.0.0.1', port: h2Port }],
      tls: { sni: 'h2.backend', caPem: ca.certPem, source: { kind: 'BackendTLSPolicy', name: 'p' } },
    }]));
    const r = await request(p, '/', { host: 'front.test' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'HTTP/2.0 front.test');
  } finally {
    await local.close();
    srv.close();
  }
});
