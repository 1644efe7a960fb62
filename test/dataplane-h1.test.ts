// The lean HTTP/1.1 upstream client (src/dataplane/upstream/h1.ts) against real backends: plain
// node:http servers and raw TCP servers writing exact bytes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { H1Client, type H1Call, type H1Request } from '../src/dataplane/upstream/h1.ts';

interface Answer { status: number; headers: Record<string, unknown>; body: string; trailers?: Record<string, unknown>; err?: Error & { code?: string } }

function call(client: H1Client, opts: Partial<H1Request>, onStart?: (c: H1Call) => void): Promise<Answer> {
  return new Promise((resolve) => {
    const a: Answer = { status: 0, headers: {}, body: '' };
    client.dispatch({ method: 'GET', path: '/', headers: { host: 'x' }, body: null, ...opts }, {
      onRequestStart: (c) => onStart?.(c),
      onResponseStart: (_c, status, headers) => { a.status = status; a.headers = headers; },
      onResponseData: (_c, chunk) => { a.body += chunk.toString(); },
      onResponseEnd: (_c, trailers) => { a.trailers = trailers; resolve(a); },
      onResponseError: (_c, err) => { a.err = err; resolve(a); },
    });
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

const peers = new Set<string>();
const backend = http.createServer((req, res) => {
  peers.add(`${req.socket.remotePort}`);
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const out = JSON.stringify({ method: req.method, url: req.url, te: req.headers['transfer-encoding'] ?? '', cl: req.headers['content-length'] ?? '', body, x: req.headers['x-a'] });
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part');
      return; // never ends: the test aborts
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), 'set-cookie': ['a=1', 'b=2'] });
    res.end(req.method === 'HEAD' ? undefined : out);
  });
});
const port = await listen(backend);
const client = new H1Client('127.0.0.1', port);
after(async () => {
  await client.close();
  backend.close();
  backend.closeAllConnections();
});

test('keep-alive: sequential requests share one backend connection; repeated headers become arrays', async () => {
  peers.clear();
  for (let i = 0; i < 3; i++) {
    const a = await call(client, { path: `/k${i}`, headers: { host: 'x', 'x-a': ['1', '2'] } });
    assert.equal(a.status, 200);
    assert.equal(JSON.parse(a.body).url, `/k${i}`);
    assert.equal(JSON.parse(a.body).x, '1, 2');
    assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
  }
  assert.equal(peers.size, 1);
});

test('request bodies: a buffer gets Content-Length, a stream without it goes chunked, a body-less POST says 0', async () => {
  const buf = await call(client, { method: 'POST', body: Buffer.from('hello') });
  assert.deepEqual([JSON.parse(buf.body).cl, JSON.parse(buf.body).body], ['5', 'hello']);
  const stream = new PassThrough();
  const pending = call(client, { method: 'PUT', body: stream });
  stream.write('ab');
  setTimeout(() => stream.end('cd'), 20);
  const s = JSON.parse((await pending).body);
  assert.deepEqual([s.te, s.body], ['chunked', 'abcd']);
  const empty = JSON.parse((await call(client, { method: 'POST' })).body);
  assert.equal(empty.cl, '0');
});

test('HEAD: the Content-Length of the answer is not waited for', async () => {
  const a = await call(client, { method: 'HEAD' });
  assert.equal(a.status, 200);
  assert.equal(a.body, '');
  assert.ok(Number(a.headers['content-length']) > 0);
});

test('abort mid-response reports the reason as an error', async () => {
  const reason = new Error('stop');
  let ctl: H1Call | undefined;
  const pending = call(client, { path: '/slow' }, (c) => { ctl = c; });
  setTimeout(() => ctl!.abort(reason), 100);
  const a = await pending;
  assert.equal(a.status, 200);
  assert.equal(a.err, reason);
});

test('invalid target or header value throws before anything is sent', () => {
  assert.throws(() => client.dispatch({ method: 'GET', path: '/a b', headers: {}, body: null }, {}));
  assert.throws(() => client.dispatch({ method: 'GET', path: '/', headers: { 'x-a': 'v\r\nx-b: 1' }, body: null }, {}));
});

test('raw backends: 100 Continue is skipped, a close-delimited body completes, a reset is an error, refused is ECONNREFUSED', async () => {
  const raw = net.createServer((sock) => {
    sock.once('data', (d) => {
      const line = d.toString().split('\r\n')[0];
      if (line.includes('/continue')) sock.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok');
      else if (line.includes('/close')) sock.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end');
      else if (line.includes('/chunked')) sock.end('HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n');
      else sock.destroy();
    });
  });
  const rport = await listen(raw);
  const rc = new H1Client('127.0.0.1', rport);
  try {
    const cont = await call(rc, { path: '/continue' });
    assert.deepEqual([cont.status, cont.body], [201, 'ok']);
    const closed = await call(rc, { path: '/close' });
    assert.deepEqual([closed.status, closed.body, closed.err], [200, 'until the end', undefined]);
    const chunked = await call(rc, { path: '/chunked' });
    assert.deepEqual([chunked.body, chunked.trailers], ['abc', { 'x-t': '1' }]);
    const reset = await call(rc, { path: '/reset' });
    assert.ok(reset.err !== undefined);
    assert.equal(reset.status, 0);
  } finally {
    raw.close();
    await rc.close();
  }
  const refused = await call(new H1Client('127.0.0.1', rport), {});
  assert.equal(refused.err?.code, 'ECONNREFUSED');
});
