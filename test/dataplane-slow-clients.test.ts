// Slow clients: a client that trickles its request headers, or connects and says nothing, is cut
// after the client header deadline (DataPlaneOptions.clientHeaderTimeoutMs) and never reaches a
// backend; a client that sends its headers in time is served on the same listener. A client that
// sends its headers and then stalls its body is answered 408 after the client body timeout
// (clientBodyTimeoutMs), over HTTP and HTTPS, and the backend never gets a complete request; a
// body that keeps moving, however slowly, is not cut. HTTP/2: a stream whose body stalls is answered
// 408 the same way; a connection with no stream open that says nothing for the header deadline
// gets a GOAWAY; one whose stream waits longer on the backend is not cut.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, h2request, request } from './support/client.ts';
import { backend, certificate, ir, listener, match, route, to } from './support/ir.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';

const DEADLINE_MS = 400;
const BODY_DEADLINE_MS = 400;
let echo: EchoBackend;
let dp: DataPlane;
let port: number;
let tlsPort: number;
let ca: CA;

before(async () => {
  echo = await startEcho('slow');
  [port, tlsPort] = await Promise.all([freePort(), freePort()]);
  ca = await makeCA();
  const cert = await makeCert(ca, { dns: ['slow.example'] });
  dp = await createDataPlane({ workers: 0, clientHeaderTimeoutMs: DEADLINE_MS, clientBodyTimeoutMs: BODY_DEADLINE_MS });
  await dp.apply(ir(1, [
    listener('http', port, { '*': [route('all', match(), [to('slow')])] }),
    listener('https', tlsPort, { '*': [route('all-tls', match(), [to('slow')])] }, {
      protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [certificate(cert, 'slow')] },
    }),
  ], [backend('slow', echo)]));
});

after(async () => {
  await dp?.close();
  await echo?.close();
});

/** Resolves with how long the server kept the connection open, and what it answered. */
function holdOpen(send: (sock: net.Socket) => void, secure = false): Promise<{ ms: number; answer: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = secure
      ? tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'slow.example', ca: ca.certPem, ALPNProtocols: ['http/1.1'] }, () => send(sock))
      : net.connect(port, '127.0.0.1', () => send(sock));
    let answer = '';
    // Never wait forever: a connection nothing cuts fails the test instead of hanging it.
    const cap = setTimeout(() => sock.destroy(), 5_000);
    sock.once('close', () => clearTimeout(cap));
    sock.on('data', (d: Buffer) => { answer += d.toString('latin1'); });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ ms: Date.now() - t0, answer }));
  });
}

test('headers trickled byte by byte are cut at the deadline and never reach the backend', async () => {
  const before = (await echo.log()).length;
  const head = 'GET /trickle HTTP/1.1\r\nHost: slow.example\r\nX-Padding: ' + 'x'.repeat(200) + '\r\n\r\n';
  let timer: NodeJS.Timeout | undefined;
  const r = await holdOpen((sock) => {
    let i = 0;
    timer = setInterval(() => { if (i < head.length && !sock.destroyed) sock.write(head[i++]); }, 50);
  });
  clearInterval(timer);
  assert.ok(r.ms < 10 * DEADLINE_MS, `connection held ${r.ms} ms`);
  assert.ok(!r.answer.includes('200 OK'), `answered ${r.answer.slice(0, 40)}`);
  const seen = (await echo.log()).slice(before);
  assert.equal(seen.filter((e) => e.path === '/trickle').length, 0);
});

test('a connection that sends nothing is closed at the deadline', async () => {
  const r = await holdOpen(() => undefined);
  assert.ok(r.ms >= DEADLINE_MS / 2 && r.ms < 10 * DEADLINE_MS, `connection held ${r.ms} ms`);
});

test('a client sending its headers in time is served', async () => {
  const res = await request(port, "/fast", { host: "slow.example" });
  assert.equal(res.status, 200);
});

/** Paths of the complete requests the backend has received since `from`. */
async function seenSince(from: number): Promise<string[]> {
  return (await echo.log()).slice(from).map((e) => e.path);
}

for (const secure of [false, true]) {
  const scheme = secure ? 'HTTPS' : 'HTTP';
  test(`${scheme}: a body stalled after the headers is cut with 408 and the backend never gets a complete request`, async () => {
    const from = (await echo.log()).length;
    const lengthBody = await holdOpen((sock) => {
      sock.write('POST /stalled-length HTTP/1.1\r\nHost: slow.example\r\nContent-Length: 100\r\n\r\nfirst bytes;');
    }, secure);
    assert.match(lengthBody.answer, /^HTTP\/1\.1 408 /, lengthBody.answer.slice(0, 60));
    assert.match(lengthBody.answer, /connection: close/i);
    assert.ok(lengthBody.ms >= BODY_DEADLINE_MS && lengthBody.ms < 10 * BODY_DEADLINE_MS, `connection held ${lengthBody.ms} ms`);
    const chunked = await holdOpen((sock) => {
      sock.write('POST /stalled-chunked HTTP/1.1\r\nHost: slow.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    }, secure);
    assert.match(chunked.answer, /^HTTP\/1\.1 408 /, chunked.answer.slice(0, 60));
    // Give an upstream request that was wrongly completed time to show in the backend's log.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await seenSince(from), []);
  });
}

test('a body that keeps moving, slower in all than the body timeout, is served', async () => {
  const from = (await echo.log()).length;
  const pieces = ['one;', 'two;', 'three;', 'four;', 'five;'];
  const body = pieces.join('');
  let timer: NodeJS.Timeout | undefined;
  const r = await holdOpen((sock) => {
    sock.write(`POST /trickled-body HTTP/1.1\r\nHost: slow.example\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`);
    let i = 0;
    timer = setInterval(() => { if (i < pieces.length && !sock.destroyed) sock.write(pieces[i++]); }, BODY_DEADLINE_MS / 3);
  });
  clearInterval(timer);
  assert.ok(r.ms > BODY_DEADLINE_MS, `took ${r.ms} ms`);
  assert.match(r.answer, /^HTTP\/1\.1 200 /, r.answer.slice(0, 60));
  assert.deepEqual(await seenSince(from), ['/trickled-body']);
});

test('HTTP/2: a connection with no stream open that says nothing is closed at the header deadline; a stream waiting on the backend is not cut', async () => {
  const t0 = Date.now();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => session.once('close', () => resolve(Date.now() - t0)));
  // A request that outlives the deadline several times over: the session has a stream open.
  const r = await h2request(session, `/h2-slow?delay=${3 * DEADLINE_MS}`, { host: 'slow.example' });
  assert.equal(r.status, 200);
  assert.equal(session.closed || session.destroyed, false, 'the session survived its slow stream');
  const afterRequest = Date.now() - t0;
  const ms = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5_000))]);
  session.destroy();
  assert.ok(ms > 0, 'an idle HTTP/2 connection is closed');
  assert.ok(ms - afterRequest >= DEADLINE_MS / 2, `closed ${ms - afterRequest} ms after its last stream`);
});

test('HTTP/2: a stream whose body stalls is answered 408, the backend never gets a complete request; the session lives on', async () => {
  const from = (await echo.log()).length;
  const t0 = Date.now();
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    const st = session.request({ ':path': '/h2-stalled', ':method': 'POST', ':authority': 'slow.example' });
    st.on('error', () => undefined);
    st.write('first bytes;');
    const status = await new Promise<number>((resolve) => {
      st.once('response', (h) => resolve(Number(h[':status'])));
      st.once('close', () => resolve(0));
      setTimeout(() => resolve(-1), 5_000); // nothing cut it: fail rather than hang
    });
    const ms = Date.now() - t0;
    assert.equal(status, 408);
    assert.ok(ms >= BODY_DEADLINE_MS && ms < 10 * BODY_DEADLINE_MS, `answered after ${ms} ms`);
    st.resume();
    await new Promise<void>((resolve) => { if (st.closed) resolve(); else st.once('close', () => resolve()); });
    // the connection itself still serves requests
    assert.equal((await h2request(session, '/h2-after', { host: 'slow.example' })).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await seenSince(from), ['/h2-after']);
  } finally {
    session.destroy();
  }
});

test('a body the gateway holds back (the backend reads slowly) is not cut: backpressure is not a stalled client', async (t) => {
  // The backend leaves the body unread for four body timeouts, then reads all of it. Meanwhile
  // the buffers fill, the gateway stops reading the client, and the client's bytes stop moving:
  // that must not count as the client stalling.
  const HOLD_MS = 4 * BODY_DEADLINE_MS;
  const slowReader = http.createServer((req, res) => {
    setTimeout(() => {
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => res.end(String(n)));
    }, HOLD_MS);
  });
  await new Promise<void>((r) => slowReader.listen(0, '127.0.0.1', r));
  const backendPort = (slowReader.address() as net.AddressInfo).port;
  const ownPort = await freePort();
  const own = await createDataPlane({ workers: 0, clientHeaderTimeoutMs: DEADLINE_MS, clientBodyTimeoutMs: BODY_DEADLINE_MS });
  t.after(async () => {
    await own.close();
    slowReader.close();
  });
  await own.apply(ir(1, [listener('http', ownPort, { '*': [route('held', match(), [to('held')])] })], [
    { id: 'held', source: { kind: 'Service', namespace: 'default', name: 'held' }, protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: backendPort }] },
  ]));
  const size = 48 << 20; // far more than the socket buffers on the way hold
  const t0 = Date.now();
  const answer = await new Promise<string>((resolve) => {
    let got = '';
    const sock = net.connect(ownPort, '127.0.0.1', () => {
      sock.write(`POST /held HTTP/1.1\r\nHost: slow.example\r\nConnection: close\r\nContent-Length: ${size}\r\n\r\n`);
      sock.end(Buffer.alloc(size, 97));
    });
    sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
    setTimeout(() => sock.destroy(), 20_000).unref();
  });
  assert.ok(Date.now() - t0 >= HOLD_MS, 'the backend held the body back');
  assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 60));
  assert.ok(answer.endsWith(`\r\n\r\n${size}`) || answer.includes(String(size)), answer.slice(-80));
});
