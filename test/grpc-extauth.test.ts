// ExternalAuth with protocol GRPC: a real ext_authz server (grpc-js with protobuf messages from
// test/fixtures/ext_authz.proto, Envoy's field numbers) decides about each request. Allowed
// requests reach the backend with the headers the service added (set or appended) and without
// those it removed; denials answer the service's status, headers and body (403 when it gives
// none); an auth service that fails or cannot be reached fails closed. grpc.allowedHeaders limits
// what is sent; forwardBody sends the body.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import type { IRBackend, IRFilter } from '../src/ir/types.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

interface HttpReq { method: string; path: string; host: string; scheme: string; query: string; headers: Record<string, string>; size: string; protocol: string; rawBody: Buffer }

let authz: grpc.Server;
let authzPort: number;
let echo: EchoBackend;
let dp: DataPlane;
let port: number;
const checks: HttpReq[] = [];

const opt = (key: string, value: string, append = false) => ({ header: { key, value }, append: { value: append } });

before(async () => {
  const def = protoLoader.loadSync(fileURLToPath(new URL('./fixtures/ext_authz.proto', import.meta.url)), { keepCase: false, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  authz = new grpc.Server();
  authz.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      const http = call.request.attributes.request.http as HttpReq;
      checks.push(http);
      const auth = http.headers.authorization;
      if (http.headers['x-auth-crash'] !== undefined) return cb({ code: grpc.status.UNAVAILABLE, details: 'auth store down' });
      if (auth === 'Bearer good') {
        return cb(null, {
          status: { code: 0 },
          okResponse: { headers: [opt('x-auth-user', 'alice'), opt('x-appended', 'two', true)], headersToRemove: ['x-remove-me'] },
        });
      }
      if (auth === 'Bearer expired') {
        return cb(null, {
          status: { code: 16 },
          deniedResponse: { status: { code: 401 }, headers: [opt('www-authenticate', 'Bearer error="invalid_token"')], body: 'token expired' },
        });
      }
      cb(null, { status: { code: 7 } });
    },
  });
  authzPort = await new Promise<number>((resolve, reject) => authz.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  echo = await startEcho('web');
  port = await freePort();
  const unreachable = await freePort();
  const authzBackend = (id: string, p: number): IRBackend => ({ id, source: { kind: 'Service', namespace: 'default', name: id }, protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: p }] });
  const ext = (extra: Partial<Extract<IRFilter, { type: 'ExternalAuth' }>> = {}): IRFilter => ({ type: 'ExternalAuth', protocol: 'GRPC', backendId: 'authz', ...extra });
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [listener('http', port, {
    '*': [
      route('limited', match({ type: 'PathPrefix', value: '/limited' }), [to('web')], { filters: [ext({ allowedRequestHeaders: ['authorization'] })] }),
      route('body', match({ type: 'PathPrefix', value: '/body' }), [to('web')], { filters: [ext({ forwardBody: { maxSize: 1024 } })] }),
      route('down', match({ type: 'PathPrefix', value: '/down' }), [to('web')], { filters: [ext({ backendId: 'gone' })] }),
      route('all', match(), [to('web')], { filters: [ext()] }),
    ],
  })], [backend('web', echo), authzBackend('authz', authzPort), authzBackend('gone', unreachable)]));
});

after(async () => {
  await dp?.close();
  await echo?.close();
  authz?.forceShutdown();
});

test('allowed: the request reaches the backend with the headers the auth service set, appended and removed', async () => {
  const r = await request(port, '/app?x=1', { host: 'shop.test', headers: { authorization: 'Bearer good', 'x-appended': 'one', 'x-remove-me': 'secret' } });
  assert.equal(r.status, 200);
  const seen = r.json().headers;
  assert.equal(seen['x-auth-user'], 'alice');
  assert.equal(seen['x-appended'], 'one, two');
  assert.equal(seen['x-remove-me'], undefined);
  const check = checks.at(-1)!;
  assert.equal(check.method, 'GET');
  assert.equal(check.path, '/app?x=1');
  assert.equal(check.query, 'x=1');
  assert.equal(check.host, 'shop.test');
  assert.equal(check.scheme, 'http');
  assert.equal(check.protocol, 'HTTP/1.1');
  assert.equal(check.headers.authorization, 'Bearer good');
  assert.equal(check.headers['x-remove-me'], 'secret', 'no grpc.allowedHeaders: every header is sent');
});

test('denied: the service\'s status, headers and body; 403 when it gives none; the backend never sees the request', async () => {
  const before = (await echo.log()).length;
  const expired = await request(port, '/app', { host: 'shop.test', headers: { authorization: 'Bearer expired' } });
  assert.equal(expired.status, 401);
  assert.equal(expired.body, 'token expired');
  assert.equal(expired.headers['www-authenticate'], 'Bearer error="invalid_token"');
  const none = await request(port, '/app', { host: 'shop.test' });
  assert.equal(none.status, 403);
  assert.equal((await echo.log()).length, before + 0);
});

test('grpc.allowedHeaders: only the listed headers are sent to the auth service', async () => {
  const r = await request(port, '/limited', { host: 'shop.test', headers: { authorization: 'Bearer good', 'x-private': 'p' } });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(checks.at(-1)!.headers), ['authorization']);
});

test('forwardBody: the request body goes to the auth service and, intact, to the backend', async () => {
  const r = await request(port, '/body', { method: 'POST', host: 'shop.test', headers: { authorization: 'Bearer good', 'content-type': 'text/plain' }, body: 'hello auth' });
  assert.equal(r.status, 200);
  assert.equal(r.json().body, 'hello auth');
  const check = checks.at(-1)!;
  assert.equal(check.rawBody.toString(), 'hello auth');
  assert.equal(check.size, '10');
});

test('fails closed: an auth service answering an error status, or unreachable, is a 5xx', async () => {
  assert.equal((await request(port, '/app', { host: 'shop.test', headers: { authorization: 'Bearer good', 'x-auth-crash': '1' } })).status, 500);
  assert.ok((await request(port, '/down', { host: 'shop.test', headers: { authorization: 'Bearer good' } })).status >= 500);
});
