// Bad client traffic over HTTP/1.1 is refused at the gateway and never reaches a backend: request
// smuggling shapes (conflicting or duplicate framing headers, unknown transfer codings, header
// syntax a backend could read differently), missing or duplicate Host, oversized headers (431).
// Every case is followed on the same connection by a pipelined request that must not get through
// either, and the backend records every request whose headers it receives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { freePort, h2request, raw, request } from './support/client.ts';
import { certificate, ir, listener, match, route, to } from './support/ir.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';

/** Requests the backend has seen: when their headers arrived, and when complete. */
const started: string[] = [];
const completed: string[] = [];
let backendServer: http.Server;
let dp: DataPlane;
let port: number;
let tlsPort: number;
let ca: CA;

before(async () => {
  backendServer = http.createServer((req, res) => {
    started.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      completed.push(`${req.method} ${req.url}`);
      res.end('reached');
    });
  });
  await new Promise<void>((resolve) => backendServer.listen(0, '127.0.0.1', resolve));
  const backendPort = (backendServer.address() as AddressInfo).port;
  [port, tlsPort] = await Promise.all([freePort(), freePort()]);
  ca = await makeCA();
  const cert = await makeCert(ca, { dns: ['x'] });
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [
    listener('http', port, { '*': [route('all', match(), [to('b')])] }),
    listener('https', tlsPort, { '*': [route('all-tls', match(), [to('b')])] }, {
      protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [certificate(cert, 'x')] },
    }),
  ], [{
    id: 'b', source: { kind: 'Service', namespace: 'default', name: 'b' }, protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: backendPort }],
  }]));
});

after(async () => {
  await dp?.close();
  backendServer?.closeAllConnections();
  await new Promise((resolve) => backendServer?.close(resolve));
});

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

/** name, raw request (a pipelined GET /smuggled follows it), the status expected. */
const cases: [string, string, number][] = [
  ['Content-Length with Transfer-Encoding', 'POST /cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['Transfer-Encoding with Content-Length', 'POST /te-cl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n', 400],
  ['duplicate differing Content-Length', 'POST /dup-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello', 400],
  ['Content-Length list', 'POST /cl-list HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 40\r\n\r\nhello', 400],
  // chunked not the final coding: the length cannot be known, 400 (RFC 9112 §6.3).
  ['Transfer-Encoding: xchunked', 'POST /xchunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 400],
  ['Transfer-Encoding: identity', 'POST /identity HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nhello', 400],
  ['Transfer-Encoding: chunked, identity', 'POST /chunked-identity HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', 400],
  // An unknown coding before chunked: 501 (RFC 9112 §6.1), as nginx answers. We re-frame bodies:
  // the coding would be lost on the way to the backend.
  ['Transfer-Encoding: gzip, chunked', 'POST /gzip-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ['Transfer-Encoding twice', 'POST /te-twice HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['space before the colon (Transfer-Encoding : chunked)', 'POST /space-colon HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400],
  ['Transfer-Encoding in HTTP/1.0', 'POST /te-http10 HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['obs-fold header continuation', 'GET /obs-fold HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n', 400],
  ['obs-fold in Transfer-Encoding', 'POST /obs-fold-te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n', 400],
  ['bare LF line endings', 'GET /bare-lf HTTP/1.1\nHost: x\n\n', 400],
  ['bare LF inside the headers', 'GET /bare-lf-mixed HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n', 400],
  ['missing Host on HTTP/1.1', 'GET /no-host HTTP/1.1\r\nX-A: b\r\n\r\n', 400],
  ['two Host lines', 'GET /two-hosts HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', 400],
  ['a Host that is not host[:port]', 'GET /bad-host HTTP/1.1\r\nHost: x y\r\n\r\n', 400],
  ['space in a header name', 'GET /space-name HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n', 400],
  ['NUL in a header value', 'GET /nul HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', 400],
  ['negative Content-Length', 'POST /neg-cl HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
  ['oversized headers', `GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\n`, 431],
];

test('the backend counts requests: a good one reaches it', async () => {
  const from = started.length;
  const r = await request(port, '/good', { host: 'x', method: 'POST', body: 'hello' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'reached');
  assert.deepEqual(started.slice(from), ['POST /good']);
});

for (const [name, data, status] of cases) {
  test(`refused and never forwarded: ${name} (${status})`, async () => {
    const from = started.length;
    const answer = await raw(port, data + SMUGGLED);
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), answer.slice(0, 80));
    assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, `one answer only, the connection closed: ${answer}`);
    // Let anything wrongly forwarded reach the backend before looking.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(started.slice(from), []);
  });
}

test('a malformed chunk after the headers: 400, and the backend never gets a complete request', async () => {
  const from = completed.length;
  const answer = await raw(port, 'POST /bad-chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5x\r\nhello\r\n0\r\n\r\n' + SMUGGLED);
  assert.match(answer, /^HTTP\/1\.1 400 /, answer.slice(0, 80));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(completed.slice(from), []);
});

test('what is valid passes: Transfer-Encoding Chunked (any case, tab before it), HTTP/1.0 without Host, IPv6 Host', async () => {
  const from = completed.length;
  for (const data of [
    'POST /chunked-case HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding:\tChunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'GET /http10 HTTP/1.0\r\n\r\n',
    'GET /ipv6 HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n',
  ]) {
    const answer = await raw(port, data);
    assert.match(answer, /^HTTP\/1\.1 200 /, `${JSON.stringify(data)}: ${answer.slice(0, 80)}`);
  }
  assert.deepEqual(completed.slice(from), ['POST /chunked-case', 'GET /http10', 'GET /ipv6']);
});

test('HTTPS (HTTP/1.1 over TLS) refuses the same: missing Host, two Host lines, an unknown transfer coding', async () => {
  const send = (data: string) => new Promise<string>((resolve, reject) => {
    const sock = tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'x', ca: ca.certPem, ALPNProtocols: ['http/1.1'] }, () => sock.write(data));
    const chunks: Buffer[] = [];
    const t = setTimeout(() => sock.destroy(), 1000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('close', () => { clearTimeout(t); resolve(Buffer.concat(chunks).toString()); });
    sock.on('error', reject);
  });
  const from = started.length;
  for (const [data, status] of [
    ['GET /tls-no-host HTTP/1.1\r\n\r\n', 400],
    ['GET /tls-two-hosts HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', 400],
    ['POST /tls-gzip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ] as const) {
    const answer = await send(data + SMUGGLED);
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(data)}: ${answer.slice(0, 80)}`);
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(started.slice(from), []);
  const ok = await send('GET /tls-ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(ok, /^HTTP\/1\.1 200 /);
});

test('HTTP/2 (h2c): headers over the HTTP/1.1 limit (16 KiB) get 431 as over HTTP/1.1, and never reach the backend; below it they pass', async (t) => {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.close());
  const before = started.length;
  const big = await h2request(session, '/h2-big', { host: 'x', headers: { 'x-big': 'y'.repeat(20_000) } });
  assert.equal(big.status, 431);
  // The gateway's own answer, not the backend's parser refusing what was forwarded to it.
  assert.match(big.body, /Request Header Fields Too Large/);
  assert.deepEqual(started.slice(before), [], 'the backend never saw the oversized request');
  const fine = await h2request(session, '/h2-fine', { host: 'x', headers: { 'x-big': 'y'.repeat(10_000) } });
  assert.equal(fine.status, 200);
  assert.deepEqual(started.slice(before), ['GET /h2-fine']);
});
