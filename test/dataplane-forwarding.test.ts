// What a backend receives and what a client gets back, header by header: X-Forwarded-For appended
// to, X-Forwarded-Proto (http / https), X-Forwarded-Host, Host kept unless URLRewrite sets a
// hostname; hop-by-hop request headers (RFC 9110 §7.6.1: Connection and the headers it names,
// Keep-Alive, Proxy-Connection, TE but `trailers`, Trailer, Upgrade when nothing is upgraded,
// Proxy-Authorization) never reach the backend, and the backend's hop-by-hop response headers
// never reach the client. Upgrades other than WebSocket (`Upgrade: my-proto`) are proxied both
// ways; a backend that declines the upgrade has its answer relayed and the connection closed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { freePort, h2request, raw, request } from './support/client.ts';
import { certificate, ir, listener, match, route, to } from './support/ir.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }

let backendServer: http.Server;
let dp: DataPlane;
let port: number;
let tlsPort: number;
let ca: CA;
const prefix = (value: string) => match({ type: 'PathPrefix', value });

/** A backend that echoes the request it got as JSON, answers with hop-by-hop headers, and speaks `my-proto` after an upgrade. */
function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.resume();
  req.on('end', () => {
    if (req.url?.startsWith('/hop-response') === true) {
      const close = req.url.includes('close');
      res.writeHead(200, {
        connection: close ? 'close, X-Hop-Named' : 'keep-alive, X-Hop-Named',
        'x-hop-named': 'for the gateway only',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        upgrade: 'nothing',
        trailer: 'x-checksum',
        'x-end-to-end': 'kept',
      });
      res.write('chunk one;');
      res.end('chunk two');
      return;
    }
    const seen: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(seen));
  });
}

function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  if (req.url === '/upgrade/declined') {
    // A backend that does not speak the protocol answers as HTTP (RFC 9110 §7.8 lets it ignore Upgrade).
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nx-why: not for you\r\n\r\nno my-proto\r\n');
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${req.headers.upgrade}\r\nx-upgraded: yes\r\n\r\n`);
  // The backend speaks first, then echoes every byte it gets.
  socket.write(`hello ${req.headers['x-who'] ?? ''} over ${req.headers.upgrade};`);
  if (head.length > 0) socket.write(Buffer.concat([Buffer.from('echo:'), head]));
  socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
  socket.on('error', () => socket.destroy());
}

before(async () => {
  backendServer = http.createServer(handle);
  backendServer.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => backendServer.listen(0, '127.0.0.1', resolve));
  const backendPort = (backendServer.address() as AddressInfo).port;
  [port, tlsPort] = await Promise.all([freePort(), freePort()]);
  ca = await makeCA();
  const cert = await makeCert(ca, { dns: ['secure.example'] });
  const routes = [
    route('rewrite', prefix('/rewrite'), [to('b')], { filters: [{ type: 'URLRewrite', hostname: 'rewritten.example' }] }),
    route('all', match(), [to('b')]),
  ];
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [
    listener('http', port, { '*': routes }),
    listener('https', tlsPort, { '*': routes }, { protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [certificate(cert, 'secure')] } }),
  ], [{ id: 'b', source: { kind: 'Service', namespace: 'default', name: 'b' }, protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: backendPort }] }]));
});

after(async () => {
  await dp?.close();
  backendServer?.closeAllConnections();
  await new Promise((resolve) => backendServer?.close(resolve));
});

function seen(body: string): Seen {
  return JSON.parse(body) as Seen;
}

function tlsRequest(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: tlsPort, servername: 'secure.example', path, headers, ca: ca.certPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('X-Forwarded-For is appended to, X-Forwarded-Proto is http, X-Forwarded-Host set, Host kept', async () => {
  const r = await request(port, '/xff?q=1', { host: 'Shop.Example:8080', headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.2', 'x-forwarded-proto': 'https' } });
  assert.equal(r.status, 200);
  const s = seen(r.body);
  assert.equal(s.url, '/xff?q=1');
  assert.equal(s.headers['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1');
  assert.equal(s.headers['x-forwarded-proto'], 'http', 'the client does not get to say which scheme it used');
  assert.equal(s.headers['x-forwarded-host'], 'Shop.Example:8080');
  assert.equal(s.headers.host, 'Shop.Example:8080', 'Host is passed as the client sent it');
  assert.equal(s.rawHeaders.filter((h) => h.toLowerCase() === 'host').length, 1);
  const fresh = seen((await request(port, '/xff', { host: 'shop.example' })).body);
  assert.equal(fresh.headers['x-forwarded-for'], '127.0.0.1');
  // A client's own X-Forwarded-Host is left as it is (it may come from a proxy in front).
  const fromProxy = seen((await request(port, '/xfh', { host: 'shop.example', headers: { 'x-forwarded-host': 'public.example' } })).body);
  assert.equal(fromProxy.headers['x-forwarded-host'], 'public.example');
});

test('X-Forwarded-Proto is https on an HTTPS listener, over HTTP/1.1 and HTTP/2', async () => {
  const r = await tlsRequest('/proto', { host: 'secure.example', 'x-forwarded-proto': 'http' });
  assert.equal(r.status, 200);
  assert.equal(seen(r.body).headers['x-forwarded-proto'], 'https');
  const s = http2.connect(`https://127.0.0.1:${tlsPort}`, { servername: 'secure.example', ca: ca.certPem });
  try {
    const h2 = await h2request(s, '/proto-h2', { host: 'secure.example' });
    const got = seen(h2.body);
    assert.equal(got.headers['x-forwarded-proto'], 'https');
    assert.equal(got.headers.host, 'secure.example', 'HTTP/2 :authority becomes Host');
    assert.equal(got.headers['x-forwarded-host'], 'secure.example');
  } finally {
    s.close();
  }
});

test('URLRewrite hostname replaces Host; X-Forwarded-Host keeps the original', async () => {
  const s = seen((await request(port, '/rewrite/x', { host: 'original.example' })).body);
  assert.equal(s.headers.host, 'rewritten.example');
  assert.equal(s.headers['x-forwarded-host'], 'original.example');
});

test('hop-by-hop request headers never reach the backend; end-to-end ones do', async () => {
  // Raw: node's client will not send Trailer without a chunked body.
  const answer = await raw(port, [
    'GET /hop HTTP/1.1',
    'Host: shop.example',
    'Connection: close, X-Named-Hop',
    'Connection: x-other-named',
    'X-Named-Hop: hop',
    'X-Other-Named: hop',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    'Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==',
    'TE: trailers, deflate',
    'Trailer: x-checksum',
    'Upgrade: my-proto', // no "Connection: upgrade": nothing is upgraded
    'X-End-To-End: kept',
    'Authorization: Bearer for-the-backend',
    '', '',
  ].join('\r\n'));
  assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 80));
  const s = seen(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  for (const h of ['x-named-hop', 'x-other-named', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'trailer', 'upgrade']) {
    assert.equal(s.headers[h], undefined, `${h} was forwarded: ${JSON.stringify(s.headers)}`);
  }
  // Connection is the gateway's own, for its connection to the backend.
  assert.doesNotMatch(String(s.headers.connection ?? ''), /x-named-hop|upgrade/i);
  assert.equal(s.headers.te, 'trailers', 'TE: only "trailers" passes (gRPC needs it)');
  assert.equal(s.headers['x-end-to-end'], 'kept');
  assert.equal(s.headers.authorization, 'Bearer for-the-backend');
  const plain = seen((await request(port, '/hop', { host: 'shop.example', headers: { te: 'deflate' } })).body);
  assert.equal(plain.headers.te, undefined);
  // Upgrade: h2c from an HTTP/1.1 client is declined, and the Upgrade header does not go on.
  const h2c = seen((await request(port, '/hop', { host: 'shop.example', headers: { connection: 'upgrade, http2-settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAoAAAAAIAAAAA' } })).body);
  assert.equal(h2c.headers.upgrade, undefined);
  assert.equal(h2c.headers['http2-settings'], undefined);
});

test('the backend\'s hop-by-hop response headers never reach the client (HTTP/1.1 and HTTP/2)', async () => {
  for (const path of ['/hop-response', '/hop-response-close']) {
    const r = await request(port, path, { host: 'shop.example' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'chunk one;chunk two', 'the body is re-framed intact');
    for (const h of ['x-hop-named', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer']) {
      assert.equal(r.headers[h], undefined, `${path}: ${h} reached the client: ${JSON.stringify(r.headers)}`);
    }
    assert.doesNotMatch(String(r.headers.connection ?? ''), /x-hop-named/i);
    assert.equal(r.headers['x-end-to-end'], 'kept');
    // Framed by the gateway for this connection: one chunked encoding, not the backend's.
    assert.ok(r.headers['transfer-encoding'] === undefined || r.headers['transfer-encoding'] === 'chunked', String(r.headers['transfer-encoding']));
  }
  const s = http2.connect(`https://127.0.0.1:${tlsPort}`, { servername: 'secure.example', ca: ca.certPem });
  try {
    const h2 = await h2request(s, '/hop-response', { host: 'secure.example' });
    assert.equal(h2.status, 200);
    assert.equal(h2.body, 'chunk one;chunk two');
    for (const h of ['x-hop-named', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer', 'transfer-encoding', 'connection']) {
      assert.equal(h2.headers[h], undefined, `HTTP/2: ${h} reached the client`);
    }
    assert.equal(h2.headers['x-end-to-end'], 'kept');
  } finally {
    s.close();
  }
});

/** An upgrade request on a raw socket: resolves with the socket and the response head once it is in. */
function upgrade(path: string, extra = ''): Promise<{ sock: net.Socket; head: string; rest: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    let headDone = false;
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (!headDone && end >= 0) {
        headDone = true;
        const head = buf.slice(0, end + 2);
        buf = buf.slice(end + 4);
        resolve({ sock, head, rest: () => buf, closed });
      }
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: shop.example\r\nConnection: Upgrade\r\nUpgrade: my-proto\r\nX-Who: alice\r\n${extra}\r\n`);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(check(), what);
}

test('a non-WebSocket upgrade (Upgrade: my-proto) is proxied both ways', async () => {
  const u = await upgrade('/upgrade/tunnel');
  try {
    assert.match(u.head, /^HTTP\/1\.1 101 /);
    assert.match(u.head, /\r\nupgrade: my-proto\r\n/i);
    assert.match(u.head, /\r\nx-upgraded: yes\r\n/i);
    // backend to client first (the backend speaks first), then client to backend and back
    await until(() => u.rest().includes('hello alice over my-proto;'), `greeting: ${JSON.stringify(u.rest())}`);
    u.sock.write('ping');
    await until(() => u.rest().includes('echo:ping'), `echo: ${JSON.stringify(u.rest())}`);
    u.sock.write(Buffer.from([0, 1, 2, 255]));
    await until(() => u.rest().includes('echo:\u0000\u0001\u0002\u00ff'), 'binary bytes pass unchanged');
  } finally {
    u.sock.destroy();
  }
});

test('an upgrade the backend declines: its answer is relayed and the connection closed', async () => {
  const u = await upgrade('/upgrade/declined');
  assert.match(u.head, /^HTTP\/1\.1 403 /, u.head);
  assert.match(u.head, /\r\nx-why: not for you\r\n/i);
  await u.closed;
  assert.equal(u.rest(), 'no my-proto\r\n');
});
