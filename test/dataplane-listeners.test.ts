// The cleartext HTTP listener's first-bytes sniffer (src/dataplane/listeners/server.ts): a client
// that half-closes after its request still gets the answer; an h2c preface that arrives in pieces
// still reaches the HTTP/2 server; HTTP/1.1 and h2c share the port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, h2request, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let echo: EchoBackend;
let dp: DataPlane;
let port: number;

before(async () => {
  echo = await startEcho('sniff');
  port = await freePort();
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [listener('http', port, { '*': [route('all', match(), [to('sniff')])] })], [backend('sniff', echo)]));
});

after(async () => {
  await dp?.close();
  await echo?.close();
});

/** Writes each piece (after a pause), optionally half-closes, and collects everything until close. */
function converse(pieces: (string | Buffer)[], halfClose: boolean): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', async () => {
      for (const p of pieces) {
        sock.write(p);
        await new Promise((r) => setTimeout(r, 30));
      }
      if (halfClose) sock.end();
    });
    let got = '';
    sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
    setTimeout(() => sock.destroy(), 3000).unref();
  });
}

test('a client that half-closes after its request gets the answer, then the connection ends', async () => {
  const got = await converse(['GET /half HTTP/1.1\r\nHost: a.example\r\n\r\n'], true);
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.match(got, /"path":"\/half"/);
});

test('a client that half-closes right after its request still gets an answer slower than its FIN', async () => {
  // The backend answers after 300 ms, long after the client's FIN (sent 30 ms after the request).
  // node:http's default aborts the request when the FIN arrives: the answer was lost.
  const got = await converse(['GET /half-slow?delay=300 HTTP/1.1\r\nHost: a.example\r\n\r\n'], true);
  assert.match(got, /^HTTP\/1\.1 200 /);
  assert.match(got, /"path":"\/half-slow/);
});

test('HTTP/1.1 request line split across reads, right after the first bytes', async () => {
  const got = await converse(['GE', 'T /split HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n'], false);
  assert.match(got, /^HTTP\/1\.1 200 /);
});

test('h2c prior knowledge whose preface arrives in pieces; HTTP/1.1 on the same port', async () => {
  // A relay between a real HTTP/2 client and the listener that delivers the client's first bytes
  // in two writes, 30 ms apart, so the sniffer has to wait for the rest of the preface.
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let first = true;
    client.on('data', (d: Buffer) => {
      if (!first) return void upstream.write(d);
      first = false;
      client.pause();
      upstream.write(d.subarray(0, 6));
      setTimeout(() => { upstream.write(d.subarray(6)); client.resume(); }, 30);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  const session = http2.connect(`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`);
  try {
    const r = await h2request(session, '/h2c', { headers: { host: 'a.example' } });
    assert.equal(r.status, 200);
    assert.equal(r.json().path, '/h2c');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
    // The status of an HTTP/1.1 backend's Content-Length answer reaches the HTTP/2 client as is.
    const teapot = await h2request(session, '/status/418', { headers: { host: 'a.example' } });
    assert.deepEqual([teapot.status, teapot.body], [418, '']);
  } finally {
    session.close();
    relay.close();
  }
  assert.equal((await request(port, '/h1', { host: 'a.example' })).status, 200);
});

test('keep-alive: an idle connection is closed after node:http\'s keep-alive timeout; one that is sending its next request is not', async () => {
  const served = (got: string) => (got.match(/HTTP\/1\.1 200 /g) ?? []).length;
  /** One request, then `next` (trickled one byte every 150 ms, or nothing); resolves at close. */
  const session = (next: string) => new Promise<{ ms: number; got: string }>((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n'));
    let got = '';
    let idleFrom = 0;
    let timer: NodeJS.Timeout | undefined;
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (idleFrom !== 0 || served(got) === 0) return;
      idleFrom = Date.now();
      let i = 0;
      timer = setInterval(() => { if (i < next.length) sock.write(next[i++]); }, 150);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => { clearInterval(timer); resolve({ ms: Date.now() - idleFrom, got }); });
    setTimeout(() => sock.destroy(), 15_000).unref();
  });
  const trickled = 'GET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
  const [idle, busy] = await Promise.all([session(''), session(trickled)]);
  // node:http: keepAliveTimeout 5 s plus its 1 s buffer; IdleTimers may add up to two seconds.
  assert.ok(idle.ms >= 5_500 && idle.ms < 9_500, `idle connection closed after ${idle.ms} ms`);
  assert.equal(served(idle.got), 1);
  assert.equal(served(busy.got), 2, 'the trickled request was answered');
  assert.ok(busy.ms > trickled.length * 150 - 1_000, `busy connection closed after ${busy.ms} ms`);
});
