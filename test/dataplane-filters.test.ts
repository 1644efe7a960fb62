// Data plane filters end to end: header modifiers, redirects and their port rules, URL rewrites,
// mirrors, CORS, direct responses, backendRef filters and ExternalAuth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import type { IRFilter, IRHTTPRoute } from '../src/ir/types.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';
import { localServiceYaml } from './support/manifests.ts';
import { MIRROR_MAX_IN_FLIGHT } from '../src/dataplane/filters/mirror.ts';
import { cond, run, statusOf } from './translate-helpers.ts';

let a: EchoBackend;
let m1: EchoBackend;
let m2: EchoBackend;
let auth: EchoBackend;
let dp: DataPlane;
let port: number;
let port8080: number;

const prefix = (value: string) => match({ type: 'PathPrefix', value });
const withFilters = (name: string, path: string, filters: IRFilter[], backends = [to('a')]): IRHTTPRoute =>
  route(name, prefix(path), backends, { filters });

before(async () => {
  [a, m1, m2, auth] = await Promise.all([startEcho('a'), startEcho('m1'), startEcho('m2'), startEcho('auth')]);
  [port, port8080] = await Promise.all([freePort(), freePort()]);
  dp = await createDataPlane({ workers: 0 });
  const routes: IRHTTPRoute[] = [
    withFilters('reqhdr', '/reqhdr', [{ type: 'RequestHeaderModifier', set: [{ name: 'X-Set', value: 'set' }], add: [{ name: 'X-Add', value: 'added' }], remove: ['X-Remove'] }]),
    withFilters('resphdr', '/resphdr', [{ type: 'ResponseHeaderModifier', set: [{ name: 'X-Resp-Set', value: 'one' }], add: [{ name: 'X-Resp-Add', value: 'two' }], remove: ['X-Backend'] }]),
    withFilters('redir-host', '/redir-host', [{ type: 'RequestRedirect', hostname: 'other.example', statusCode: 301 }], []),
    withFilters('redir-scheme', '/redir-scheme', [{ type: 'RequestRedirect', scheme: 'https', statusCode: 302 }], []),
    withFilters('redir-port', '/redir-port', [{ type: 'RequestRedirect', port: 8443, statusCode: 302 }], []),
    withFilters('redir-port80', '/redir-port80', [{ type: 'RequestRedirect', port: 80, statusCode: 302 }], []),
    withFilters('redir-https-443', '/redir-https-443', [{ type: 'RequestRedirect', scheme: 'https', port: 443, statusCode: 302 }], []),
    withFilters('redir-https-8443', '/redir-https-8443', [{ type: 'RequestRedirect', scheme: 'https', port: 8443, statusCode: 302 }], []),
    withFilters('redir-full', '/redir-full', [{ type: 'RequestRedirect', path: { type: 'ReplaceFullPath', value: '/new' }, statusCode: 307 }], []),
    withFilters('redir-prefix', '/redir-prefix', [{ type: 'RequestRedirect', path: { type: 'ReplacePrefixMatch', value: '/replaced' }, statusCode: 308 }], []),
    withFilters('rewrite', '/rewrite', [{ type: 'URLRewrite', hostname: 'rewritten.example', path: { type: 'ReplacePrefixMatch', value: '/new' } }]),
    withFilters('rewrite-root', '/strip', [{ type: 'URLRewrite', path: { type: 'ReplacePrefixMatch', value: '/' } }]),
    withFilters('rewrite-full', '/full', [{ type: 'URLRewrite', path: { type: 'ReplaceFullPath', value: '/one' } }]),
    withFilters('mirror', '/mirror', [{ type: 'RequestMirror', backendId: 'm1', percent: 100 }, { type: 'RequestMirror', backendId: 'm2', percent: 100 }]),
    withFilters('mirror-none', '/mirror-none', [{ type: 'RequestMirror', backendId: 'm2', percent: 0 }]),
    withFilters('cors', '/cors', [{
      type: 'CORS', allowOrigins: ['https://www.foo.com', 'https://*.bar.com'], allowCredentials: true,
      allowMethods: ['GET', 'OPTIONS'], allowHeaders: ['x-header-1', 'x-header-2'], exposeHeaders: ['x-header-3'], maxAge: 3600,
    }]),
    withFilters('cors-any', '/cors-any', [{ type: 'CORS', allowOrigins: ['*'], allowCredentials: false, allowMethods: ['*'], allowHeaders: [], exposeHeaders: [], maxAge: 5 }]),
    withFilters('direct', '/direct', [{ type: 'DirectResponse', status: 503 }]),
    route('be-filters', prefix('/be'), [to('a', 1, [{ type: 'RequestHeaderModifier', set: [{ name: 'x-be', value: 'yes' }], add: [], remove: [] }, { type: 'ResponseHeaderModifier', set: [{ name: 'x-be-resp', value: 'yes' }], add: [], remove: [] }])]),
    route('be-redirect', prefix('/be-redirect'), [to('a', 1, [{ type: 'RequestRedirect', hostname: 'be.example', statusCode: 302 }])]),
    withFilters('auth-ok', '/auth-ok', [{ type: 'ExternalAuth', protocol: 'HTTP', backendId: 'auth', path: '/', allowedResponseHeaders: ['x-backend'] }]),
    withFilters('auth-body', '/auth-body', [{ type: 'ExternalAuth', protocol: 'HTTP', backendId: 'auth', path: '/', forwardBody: { maxSize: 4 } }]),
    withFilters('auth-deny', '/auth-deny', [{ type: 'ExternalAuth', protocol: 'HTTP', backendId: 'auth', path: '/status/403' }]),
    withFilters('auth-all', '/auth-all', [{ type: 'ExternalAuth', protocol: 'HTTP', backendId: 'auth', path: '/', allowedRequestHeaders: ['x-extra'] }]),
  ];
  // routes are given in precedence order: longer prefixes first where they overlap
  routes.sort((x, y) => (y.match.path.value.length - x.match.path.value.length));
  await dp.apply(ir(1, [
    listener('http', port, { '*': routes }),
    listener('http8080', port8080, { '*': routes }),
  ], [backend('a', a), backend('m1', m1), backend('m2', m2), backend('auth', auth)]));
});

after(async () => {
  await dp?.close();
  await Promise.all([a, m1, m2, auth].map((e) => e?.close()));
});

test('RequestHeaderModifier sets, adds and removes', async () => {
  const r = await request(port, '/reqhdr', { host: 'h.test', headers: { 'x-set': 'old', 'x-add': 'orig', 'x-remove': 'gone' } });
  const h = r.json().headers;
  assert.equal(h['x-set'], 'set');
  assert.equal(h['x-add'], 'orig, added');
  assert.equal(h['x-remove'], undefined);
});

test('ResponseHeaderModifier sets, adds and removes', async () => {
  const r = await request(port, '/resphdr', { host: 'h.test', headers: { 'x-echo-set-header': 'X-Resp-Add:first' } });
  assert.equal(r.headers['x-resp-set'], 'one');
  assert.equal(r.headers['x-resp-add'], 'first, two');
  assert.equal(r.headers['x-backend'], undefined);
});

test('RequestRedirect: hostname, scheme, path and the port rules', async () => {
  const loc = async (p: string, onPort = port) => {
    const r = await request(onPort, p, { host: 'h.test' });
    return `${r.status} ${r.headers.location}`;
  };
  assert.equal(await loc('/redir-host/x?q=1'), `301 http://other.example:${port}/redir-host/x?q=1`);
  assert.equal(await loc('/redir-scheme'), '302 https://h.test/redir-scheme', 'scheme set: its well-known port, omitted');
  assert.equal(await loc('/redir-port'), '302 http://h.test:8443/redir-port');
  assert.equal(await loc('/redir-port80'), '302 http://h.test/redir-port80', 'http on 80 is omitted');
  assert.equal(await loc('/redir-https-443'), '302 https://h.test/redir-https-443');
  assert.equal(await loc('/redir-https-8443'), '302 https://h.test:8443/redir-https-8443');
  assert.equal(await loc('/redir-full/a/b'), `307 http://h.test:${port}/new`);
  assert.equal(await loc('/redir-prefix/a/b'), `308 http://h.test:${port}/replaced/a/b`);
  assert.equal(await loc('/redir-host', port8080), `301 http://other.example:${port8080}/redir-host`, 'no scheme: listener port');
});

test('URLRewrite: hostname and path', async () => {
  const e = (await request(port, '/rewrite/x?y=1', { host: 'h.test' })).json();
  assert.equal(e.host, 'rewritten.example');
  assert.equal(e.path, '/new/x?y=1');
  assert.equal((await request(port, '/rewrite', { host: 'h.test' })).json().path, '/new');
  assert.equal((await request(port, '/strip/a', { host: 'h.test' })).json().path, '/a');
  assert.equal((await request(port, '/strip', { host: 'h.test' })).json().path, '/');
  assert.equal((await request(port, '/full/a/b', { host: 'h.test' })).json().path, '/one');
});

test('RequestMirror: every mirror gets a copy, percent 0 none; the response is the backend\'s', async () => {
  const r = await request(port, '/mirror/one', { host: 'h.test', method: 'POST', body: 'payload' });
  assert.equal(r.json().name, 'a');
  assert.equal(r.json().body, 'payload');
  await request(port, '/mirror-none/x', { host: 'h.test' });
  let log1: { path: string }[] = [];
  let log2: { path: string }[] = [];
  for (let i = 0; i < 50; i++) {
    [log1, log2] = await Promise.all([m1.log(), m2.log()]);
    if (log1.length > 0 && log2.length > 0) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.deepEqual(log1.map((x) => x.path), ['/mirror/one']);
  assert.deepEqual(log2.map((x) => x.path), ['/mirror/one']);
  // a large body is streamed (teed), not held back for the mirrors
  const big = 'x'.repeat(3 << 20);
  const r2 = await request(port, '/mirror/big', { host: 'h.test', method: 'PUT', body: big });
  assert.equal(r2.status, 200);
  assert.equal(r2.json().body.length, big.length);
});

test('CORS: preflight from allowed, wildcard and unknown origins; actual requests', async () => {
  const pre = (origin: string, path = '/cors') => request(port, path, {
    host: 'h.test', method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1' },
  });
  let r = await pre('https://www.foo.com');
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], 'https://www.foo.com');
  assert.equal(r.headers['access-control-allow-methods'], 'GET, OPTIONS');
  assert.equal(r.headers['access-control-allow-headers'], 'x-header-1, x-header-2');
  assert.equal(r.headers['access-control-expose-headers'], 'x-header-3');
  assert.equal(r.headers['access-control-max-age'], '3600');
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  r = await pre('https://a.b.bar.com');
  assert.equal(r.headers['access-control-allow-origin'], 'https://a.b.bar.com');
  r = await pre('https://bar.com');
  assert.equal(r.headers['access-control-allow-origin'], undefined);
  r = await pre('http://www.bar.com');
  assert.equal(r.headers['access-control-allow-origin'], undefined, 'scheme must match');
  r = await pre('https://x.test:12345', '/cors-any');
  assert.equal(r.headers['access-control-allow-origin'], 'https://x.test:12345');
  assert.equal(r.headers['access-control-allow-methods'], 'GET');
  assert.equal(r.headers['access-control-allow-credentials'], undefined);
  r = await request(port, '/cors', { host: 'h.test', headers: { origin: 'https://www.foo.com' } });
  assert.equal(r.json().name, 'a');
  assert.equal(r.headers['access-control-allow-origin'], 'https://www.foo.com');
  r = await request(port, '/cors', { host: 'h.test', headers: { origin: 'https://evil.com' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], undefined);
});

test('DirectResponse and backendRef filters', async () => {
  assert.equal((await request(port, '/direct', { host: 'h.test' })).status, 503);
  const r = await request(port, '/be/x', { host: 'h.test' });
  assert.equal(r.json().headers['x-be'], 'yes');
  assert.equal(r.headers['x-be-resp'], 'yes');
  const red = await request(port, '/be-redirect', { host: 'h.test' });
  assert.equal(red.status, 302);
  assert.equal(red.headers.location, `http://be.example:${port}/be-redirect`);
});

test('ExternalAuth over HTTP: allow copies headers, deny returns the auth answer', async () => {
  const ok = await request(port, '/auth-ok/x', { host: 'h.test', headers: { authorization: 'Bearer t' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json().name, 'a');
  assert.equal(ok.json().headers['x-backend'], 'auth');
  const seen = await auth.log();
  assert.ok(seen.some((s) => s.path === '/auth-ok/x' && s.headers.authorization === 'Bearer t'), JSON.stringify(seen));
  const deny = await request(port, '/auth-deny/x', { host: 'h.test' });
  assert.equal(deny.status, 403);
  const withBody = await request(port, '/auth-body/x', { host: 'h.test', method: 'POST', body: 'abc' });
  assert.equal(withBody.json().body, 'abc', 'the backend gets the body');
  const authSaw = (await auth.log()).find((s) => s.path === '/auth-body/x');
  assert.equal(authSaw?.headers['content-length'], '3', 'the auth service gets the body too');
});

test('ExternalAuth over HTTP, as the spec words it: headers sent and copied back, bodies over forwardBody.maxSize refused', async () => {
  const headers = { authorization: 'Bearer t', 'x-extra': 'e', 'x-private': 'p', cookie: 'c=1' };
  const ok = await request(port, '/auth-all/x', { host: 'h.test', headers });
  assert.equal(ok.status, 200);
  const sent = (await auth.log()).filter((s) => s.path === '/auth-all/x').at(-1)!.headers;
  assert.equal(sent.authorization, 'Bearer t');
  assert.equal(sent['x-extra'], 'e', 'a header in allowedHeaders is sent');
  assert.equal(sent['x-private'], undefined, 'others are not');
  assert.equal(sent.cookie, undefined);
  assert.ok(sent['content-length'] === undefined || sent['content-length'] === '0', 'no forwardBody: no body');
  const plainAuth = await request(port, '/auth-ok/y', { host: 'h.test', headers });
  assert.equal(plainAuth.status, 200);
  const only = (await auth.log()).filter((s) => s.path === '/auth-ok/y').at(-1)!.headers;
  assert.deepEqual(Object.keys(only).filter((k) => k !== 'connection' && k !== 'content-length').sort(), ['authorization', 'host'], 'no allowedHeaders: only the required ones');
  // allowedResponseHeaders empty: every auth response header but Host and framing is copied.
  assert.equal(ok.json().headers['x-backend'], 'auth');
  assert.notEqual(ok.json().headers['content-type'], 'application/json', 'the auth answer\'s own framing is not copied');
  const before = (await a.log()).length;
  const big = await request(port, '/auth-body/z', { host: 'h.test', method: 'POST', body: 'abcdefgh' });
  assert.equal(big.status, 413);
  assert.equal((await a.log()).length, before, 'the backend never sees it');
  assert.equal((await auth.log()).some((s) => s.path === '/auth-body/z'), false, 'nor the auth service');
});

test('RequestMirror never changes or delays the response: slow, failing, refused and non-reading mirrors', async () => {
  const http = await import('node:http');
  const net = await import('node:net');
  // Mirror backends made to misbehave, each a real server on its own port.
  const listen = async (s: import('node:net').Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return (s.address() as import('node:net').AddressInfo).port;
  };
  const slow = http.createServer((req, res) => { req.resume(); setTimeout(() => res.end('late'), 2000).unref(); });
  let failed = 0;
  const failing = http.createServer((req, res) => {
    if (req.url?.startsWith('/m-500/many')) failed++;
    req.resume();
    res.statusCode = 500;
    res.end('mirror failed');
  });
  const held: import('node:net').Socket[] = [];
  const deaf = net.createServer((sock) => { sock.pause(); held.push(sock); }); // accepts, never reads nor answers
  const [slowPort, failingPort, deafPort, refusedPort] = await Promise.all([listen(slow), listen(failing), listen(deaf), freePort()]);
  const at = (id: string, p: number) => ({ ...backend(id, a), endpoints: [{ address: '127.0.0.1', port: p }] });
  const own = await createDataPlane({ workers: 0 });
  const p = await freePort();
  const mirrored = (name: string, id: string) => withFilters(name, `/${name}`, [{ type: 'RequestMirror', backendId: id, percent: 100 }]);
  try {
    await own.apply(ir(1, [listener('m', p, {
      '*': [mirrored('m-slow', 'slow'), mirrored('m-500', 'failing'), mirrored('m-refused', 'refused'), mirrored('m-deaf', 'deaf')],
    })], [backend('a', a), at('slow', slowPort), at('failing', failingPort), at('refused', refusedPort), at('deaf', deafPort)]));
    for (const path of ['/m-slow', '/m-500', '/m-refused', '/m-deaf']) {
      for (const method of ['GET', 'POST']) {
        const started = Date.now();
        const r = await request(p, `${path}/x?q=1`, { host: 'h.test', method, body: method === 'POST' ? 'small body' : undefined });
        const took = Date.now() - started;
        assert.equal(r.status, 200, `${method} ${path}`);
        assert.equal(r.json().name, 'a');
        assert.equal(r.json().path, `${path}/x?q=1`);
        assert.equal(r.json().body, method === 'POST' ? 'small body' : '');
        assert.ok(took < 1000, `${method} ${path}: answered after ${took} ms (the slow mirror takes 2000)`);
      }
    }
    // A body far larger than the socket buffers to a mirror that never reads it: the mirror's
    // copy falls behind and is dropped, the request streams on at the backend's pace.
    const big = 'y'.repeat(24 << 20);
    for (const path of ['/m-deaf', '/m-slow']) {
      const started = Date.now();
      const r = await request(p, `${path}/big`, { host: 'h.test', method: 'POST', body: big });
      assert.equal(r.status, 200, path);
      assert.equal(r.json().body.length, big.length, `${path}: the backend got the whole body`);
      assert.ok(Date.now() - started < 10_000, `${path}: answered after ${Date.now() - started} ms`);
    }
    // A mirror that never answers does not collect sockets without bound (they would run out for
    // everyone): copies in flight to it are capped, the rest dropped. A mirror that does answer,
    // even 500, gets every copy: copies that ended no longer count.
    const many = MIRROR_MAX_IN_FLIGHT + 50;
    const burst = async (path: string) => {
      for (let i = 0; i < many; i += 25) {
        const batch = await Promise.all(Array.from({ length: Math.min(25, many - i) }, () => request(p, path, { host: 'h.test' })));
        for (const r of batch) assert.equal(r.status, 200, path);
      }
    };
    await burst('/m-deaf/many');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(held.length <= MIRROR_MAX_IN_FLIGHT + 3, `${held.length} connections held by the mirror that never answers`);
    assert.ok(held.length >= MIRROR_MAX_IN_FLIGHT - 10, `${held.length}: copies went out up to the cap`);
    await burst('/m-500/many');
    for (let i = 0; i < 100 && failed < many; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(failed, many, 'every copy reached the mirror that answers 500');
  } finally {
    await own.close();
    for (const s of held) s.destroy();
    slow.closeAllConnections();
    await Promise.all([slow, failing, deaf].map((s) => new Promise((r) => s.close(r))));
  }
});

test('an unresolved ExtensionRef answers 500 (YAML through translate() into the data plane); the rest of the route serves', async () => {
  const p = await freePort();
  const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default, generation: 1}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: ${p}, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ext, namespace: default, generation: 1}
spec:
  parentRefs: [{name: gw}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /ext}}]
      filters: [{type: ExtensionRef, extensionRef: {group: filters.example.net, kind: RateLimit, name: strict}}]
      backendRefs: [{name: echo, port: 8080}]
    - matches: [{path: {type: PathPrefix, value: /be-ext}}]
      backendRefs:
        - {name: echo, port: 8080, filters: [{type: ExtensionRef, extensionRef: {group: filters.example.net, kind: Retry, name: twice}}]}
    - matches: [{path: {type: PathPrefix, value: /plain}}]
      backendRefs: [{name: echo, port: 8080}]
---
${localServiceYaml('echo', 8080, a.port)}`;
  const result = run(yaml);
  const parent = (statusOf(result, 'HTTPRoute/default/ext')?.parents as { conditions: unknown }[] | undefined)?.[0];
  assert.equal(cond(parent?.conditions, 'Accepted')?.status, 'True');
  assert.equal(cond(parent?.conditions, 'ResolvedRefs')?.reason, 'InvalidKind');
  const own = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  try {
    assert.deepEqual((await own.apply(result.ir)).bindErrors, {});
    const before = (await a.log()).length;
    for (const method of ['GET', 'POST']) {
      assert.equal((await request(p, '/ext/x', { host: 'h.test', method, body: method === 'POST' ? 'b' : undefined })).status, 500, method);
      assert.equal((await request(p, '/be-ext/x', { host: 'h.test', method })).status, 500, `backendRef filter, ${method}`);
    }
    assert.equal((await a.log()).length, before, 'nothing reached the backend through the filter');
    const plain = await request(p, '/plain', { host: 'h.test' });
    assert.equal(plain.status, 200);
    assert.equal(plain.json().name, 'a');
  } finally {
    await own.close();
  }
});
