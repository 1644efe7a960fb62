// Slow clients: a client that trickles its request headers, or connects and says nothing, is cut
// after the client header deadline (DataPlaneOptions.clientHeaderTimeoutMs) and never reaches a
// backend; a client that sends its headers in time is served on the same listener.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

const DEADLINE_MS = 400;
let echo: EchoBackend;
let dp: DataPlane;
let port: number;

before(async () => {
  echo = await startEcho('slow');
  port = await freePort();
  dp = await createDataPlane({ workers: 0, clientHeaderTimeoutMs: DEADLINE_MS });
  await dp.apply(ir(1, [listener('http', port, { '*': [route('all', match(), [to('slow')])] })], [backend('slow', echo)]));
});

after(async () => {
  await dp?.close();
  await echo?.close();
});

/** Resolves with how long the server kept the connection open, and what it answered. */
function holdOpen(send: (sock: net.Socket) => void): Promise<{ ms: number; answer: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1', () => send(sock));
    let answer = '';
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
