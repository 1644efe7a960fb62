// Retries end to end (HTTPRouteRetryConnectionError, HTTPRouteRetryBackendTimeout): a flaky
// backend on real sockets resets, closes, refuses or hangs its first N attempts per id, and counts
// every attempt it sees; the routes carry retry stanzas with and without codes, backendRequest and
// request timeouts, as upstream's HTTPRouteRetryConnectionError and HTTPRouteRetryWithTimeouts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { freePort, request } from './support/client.ts';
import { ir, listener, match, route, to } from './support/ir.ts';
import type { IRBackend } from '../src/ir/types.ts';

/** Attempts seen per id: arrival times (ms) and the request bodies. */
const seen = new Map<string, { at: number[]; bodies: string[] }>();
/** Mode `serial` runs one request at a time, as upstream's echo-basic holds a lock through its delay. */
let serial: Promise<void> = Promise.resolve();

function attempts(id: string): number {
  return seen.get(id)?.at.length ?? 0;
}

/**
 * GET/POST /<mode>?id=&fail=N[&ms=]: the first N attempts of an id fail, later ones answer 200 with
 * the attempt number and the body. Modes: reset (TCP RST before any response), close (FIN before
 * any response), hang (no answer for `ms`, then 200), code (500 after `ms`), serial (like code,
 * but requests wait for the one before them to finish, counted when their turn comes).
 */
function flaky(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse, turn?: () => void): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname.endsWith('/serial') && turn === undefined) {
    // the turn ends when the answer is made, whether or not the gateway still listens
    serial = serial.then(() => new Promise<void>((done) => flaky(req, res, done)));
    return;
  }
  const id = url.searchParams.get('id') ?? '';
  const entry = seen.get(id) ?? { at: [], bodies: [] };
  seen.set(id, entry);
  entry.at.push(performance.now());
  const n = entry.at.length;
  const failing = n <= Number(url.searchParams.get('fail') ?? 0);
  const ms = Number(url.searchParams.get('ms') ?? 0);
  const mode = url.pathname.split('/').pop();
  if (failing && mode === 'reset' && req.httpVersionMajor === 2) {
    (req as http2.Http2ServerRequest).stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (failing && mode === 'reset') return void (req.socket as Socket).resetAndDestroy();
  if (failing && mode === 'close') return void (req.socket as Socket).end();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    entry.bodies.push(body);
    const answer = () => {
      turn?.();
      if (failing && (mode === 'code' || mode === 'serial')) {
        res.statusCode = 500;
        return void res.end();
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ attempt: n, body }));
    };
    if (failing && (mode === 'hang' || mode === 'code' || mode === 'serial') && ms > 0) setTimeout(answer, ms);
    else answer();
  });
}

let h1: http.Server;
let h2: http2.Http2Server;
let dp: DataPlane;
let port: number;
let deadPort: number;
const prefix = (value: string) => match({ type: 'PathPrefix', value });

function listen(server: http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function be(id: string, protocol: IRBackend['protocol'], ports: number[]): IRBackend {
  return { id, source: { kind: 'Service', namespace: 'default', name: id }, protocol, endpoints: ports.map((p) => ({ address: '127.0.0.1', port: p })) };
}

before(async () => {
  h1 = http.createServer(flaky);
  h2 = http2.createServer(flaky);
  const [p1, p2] = await Promise.all([listen(h1), listen(h2)]);
  [port, deadPort] = await Promise.all([freePort(), freePort()]);
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [
    listener('http', port, {
      '*': [
        // upstream HTTPRouteRetryConnectionError: attempts 3, no codes
        route('conn', prefix('/conn'), [to('h1')], { retry: { codes: [], attempts: 3 } }),
        route('conn-h2c', prefix('/h2c'), [to('h2c')], { retry: { codes: [], attempts: 2 } }),
        route('refused', prefix('/refused'), [to('dead')], { retry: { codes: [], attempts: 2 } }),
        route('half', prefix('/half'), [to('half')], { retry: { codes: [], attempts: 1 } }),
        route('backoff', prefix('/backoff'), [to('h1')], { retry: { codes: [], attempts: 2, backoffMs: 100 } }),
        route('capped', prefix('/capped'), [to('h1')], { retry: { codes: [], attempts: 6, backoffMs: 50 } }),
        route('plain', prefix('/plain'), [to('h1')]),
        // upstream HTTPRouteRetryWithTimeouts, rule 1: attempts 2, no codes, backendRequest 200ms
        route('be', prefix('/be'), [to('h1')], { retry: { codes: [], attempts: 2 }, timeouts: { backendRequestMs: 200 } }),
        // rule 2: codes [500], attempts 5, backendRequest 200ms, request 400ms
        route('req', prefix('/req'), [to('h1')], { retry: { codes: [500], attempts: 5 }, timeouts: { backendRequestMs: 200, requestMs: 400 } }),
        route('within', prefix('/within'), [to('h1')], { retry: { codes: [], attempts: 1 }, timeouts: { backendRequestMs: 150, requestMs: 2000 } }),
      ],
    }),
  ], [be('h1', 'http1', [p1]), be('h2c', 'h2c', [p2]), be('dead', 'http1', [deadPort]), be('half', 'http1', [deadPort, p1])]));
});

after(async () => {
  await dp?.close();
  h1?.closeAllConnections();
  await Promise.all([new Promise((r) => h1?.close(r)), new Promise((r) => h2?.close(r))]);
});

test('connection resets are retried up to attempts (no codes needed), then 503', async () => {
  const ok = await request(port, '/conn/reset?id=r1&fail=2', { host: 'x' });
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(ok.body).attempt, 3, 'two resets, answered by the third attempt');
  assert.equal(attempts('r1'), 3);
  const edge = await request(port, '/conn/reset?id=r2&fail=3', { host: 'x' });
  assert.equal(edge.status, 200, 'attempts: 3 allows three retries');
  assert.equal(attempts('r2'), 4);
  const gaveUp = await request(port, '/conn/reset?id=r3&fail=4', { host: 'x' });
  assert.equal(gaveUp.status, 503, 'four resets exceed three retries (upstream accepts 500 or 503)');
  assert.equal(attempts('r3'), 4, 'one attempt and three retries, no more');
});

test('a connection closed before any response is retried like a reset', async () => {
  const ok = await request(port, '/conn/close?id=c1&fail=1', { host: 'x' });
  assert.equal(ok.status, 200);
  assert.equal(attempts('c1'), 2);
});

test('without a retry stanza a reset is answered at once (502), one attempt', async () => {
  const r = await request(port, '/plain/reset?id=p1&fail=1', { host: 'x' });
  assert.equal(r.status, 502);
  assert.equal(attempts('p1'), 1);
});

test('HTTP/2 backend (undici path): a stream reset before headers is retried', async () => {
  const ok = await request(port, '/h2c/reset?id=h1&fail=2', { host: 'x' });
  assert.equal(ok.status, 200);
  assert.equal(attempts('h1'), 3);
  const gaveUp = await request(port, '/h2c/reset?id=h2&fail=3', { host: 'x' });
  assert.equal(gaveUp.status, 503);
  assert.equal(attempts('h2'), 3);
});

test('connection refused: retried (on the next endpoint when there is one), else 503', async () => {
  assert.equal((await request(port, '/refused', { host: 'x' })).status, 503);
  for (let i = 0; i < 4; i++) {
    const r = await request(port, `/half/ok?id=half${i}`, { host: 'x' });
    assert.equal(r.status, 200, 'the refused endpoint is skipped by the retry');
  }
});

test('a buffered request body is sent again on every attempt; a streamed one is sent once', async () => {
  const post = await request(port, '/conn/reset?id=b1&fail=1', { host: 'x', method: 'POST', body: 'payload' });
  assert.equal(post.status, 200);
  assert.equal(JSON.parse(post.body).body, 'payload');
  assert.equal(attempts('b1'), 2);
  // over the 1 MiB retry buffer: streamed to the first attempt, which cannot be repeated
  const big = 'y'.repeat((1 << 20) + 1);
  const once = await request(port, '/conn/reset?id=b2&fail=1', { host: 'x', method: 'POST', body: big }).catch((e: Error) => e);
  if (!(once instanceof Error)) assert.equal(once.status, 503);
  assert.equal(attempts('b2'), 1, 'no retry for a body already streamed');
  const bigOk = await request(port, '/conn/ok?id=b3', { host: 'x', method: 'POST', body: big });
  assert.equal(JSON.parse(bigOk.body).body.length, big.length);
});

test('backoff: a retry waits at least the backoff, doubling', async () => {
  const r = await request(port, '/backoff/reset?id=k1&fail=2', { host: 'x' });
  assert.equal(r.status, 200);
  const at = seen.get('k1')!.at;
  assert.equal(at.length, 3);
  assert.ok(at[1] - at[0] >= 95, `first retry after ${at[1] - at[0]} ms`);
  assert.ok(at[2] - at[1] >= 195, `second retry after ${at[2] - at[1]} ms`);
});

test('backoff: 25 ms doubling when the stanza has none; doubling stops at ten times the backoff', async () => {
  const r = await request(port, '/conn/reset?id=d1&fail=3', { host: 'x' });
  assert.equal(r.status, 200);
  const at = seen.get('d1')!.at;
  assert.ok(at[1] - at[0] >= 20 && at[2] - at[1] >= 45 && at[3] - at[2] >= 95, at.map((t) => Math.round(t - at[0])).join(','));
  // 50 ms doubling for six retries would wait 3150 ms; capped at 500 ms it is 1750 ms
  const t0 = performance.now();
  assert.equal((await request(port, '/capped/reset?id=d2&fail=6', { host: 'x' })).status, 200);
  const took = performance.now() - t0;
  assert.ok(took >= 1700 && took < 3000, `${took} ms`);
  assert.equal(attempts('d2'), 7);
});

test('an attempt past backendRequest is retried even when codes do not list 504', async () => {
  // upstream HTTPRouteRetryWithTimeouts case 1: failing attempts take 300 ms, backendRequest is 200 ms
  const ok = await request(port, '/be/hang?id=t1&fail=2&ms=300', { host: 'x' });
  assert.equal(ok.status, 200);
  assert.equal(attempts('t1'), 3);
  // the same against a backend that finishes each slow 500 before it looks at the next attempt
  // (upstream's echo-basic): the third attempt waits for the second's 300 ms too, and must not be
  // cut by its own 200 ms (the default backoff gives it room)
  const serialOk = await request(port, '/be/serial?id=s1&fail=2&ms=300', { host: 'x' });
  assert.equal(serialOk.status, 200);
  assert.equal(attempts('s1'), 3);
  // case 2: three slow attempts exceed two retries
  const t0 = performance.now();
  const gaveUp = await request(port, '/be/hang?id=t2&fail=3&ms=300', { host: 'x' });
  assert.equal(gaveUp.status, 504);
  assert.equal(attempts('t2'), 3);
  assert.ok(performance.now() - t0 >= 590, 'three attempts of 200 ms each');
});

test('the next attempt answers within timeouts.request after one hung past backendRequest', async () => {
  const t0 = performance.now();
  const r = await request(port, '/within/hang?id=w1&fail=1&ms=5000', { host: 'x' });
  assert.equal(r.status, 200);
  assert.equal(attempts('w1'), 2);
  assert.ok(performance.now() - t0 < 2000, 'answered by the retry, long before the hung attempt would have');
});

test('timeouts.request bounds all attempts together: 504, and no attempt after it', async () => {
  // upstream HTTPRouteRetryWithTimeouts case 3: one 500, then the retry answers
  assert.equal((await request(port, '/req/code?id=q1&fail=1', { host: 'x' })).status, 200);
  // case 4: four 500s of 100 ms each need more than the 400 ms request timeout
  const t0 = performance.now();
  const r = await request(port, '/req/code?id=q2&fail=4&ms=100', { host: 'x' });
  const took = performance.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(took >= 390 && took < 1500, `504 after ${took} ms`);
  const n = attempts('q2');
  assert.ok(n >= 3 && n <= 5, `${n} attempts`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(attempts('q2'), n, 'no retry once the request timed out');
  // slow attempts, each cut by backendRequest, until the request timeout ends them all
  const slow = await request(port, '/req/hang?id=q3&fail=9&ms=1000', { host: 'x' });
  assert.equal(slow.status, 504);
  const m = attempts('q3');
  assert.ok(m === 2 || m === 3, `${m} attempts: two of 200 ms fill the 400 ms`);
});
