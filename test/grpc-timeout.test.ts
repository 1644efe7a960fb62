// The client's grpc-timeout header as the deadline of a GRPCRoute call: Portico ends an overdue call
// itself with DEADLINE_EXCEEDED (Trailers-Only), cancels the upstream stream and counts a 5xx;
// calls within their deadline succeed; malformed values are ignored; the backend is told the time
// left (never more than the route's own timeouts.request allows).
//
// A raw node:http2 client sends the header, so nothing on the client side enforces the deadline;
// on the `enforce.test` route a RequestHeaderModifier removes grpc-timeout before the backend
// (grpc-js, which would otherwise enforce the same deadline itself), so only Portico can end it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import type { IRBackend, IRHTTPRoute } from '../src/ir/types.ts';
import { freePort } from './support/client.ts';
import { ir, listener, match, route, to } from './support/ir.ts';
import { startGrpcEcho, TestClient, TEST_SERVICE, unary, type GrpcEcho } from './support/grpc-echo.ts';

let g: GrpcEcho;
let dp: DataPlane;
let port: number;
let capture: http2.Http2Server;
/** grpc-timeout of each request the capture backend received (null: absent). */
const captured: (string | null)[] = [];
const clients: grpc.Client[] = [];
let flaky: http2.Http2Server;
/** grpc-timeout of each attempt the flaky backend received; it answers 503 to the first. */
const flakySeen: string[] = [];
let session: http2.ClientHttp2Session;

const grpcRoute = (name: string, backendId: string, extra: Partial<IRHTTPRoute> = {}): IRHTTPRoute => ({
  ...route(name, match({ type: 'PathPrefix', value: `/${TEST_SERVICE}/` }), [to(backendId)], extra),
  kind: 'grpc',
  source: { kind: 'GRPCRoute', namespace: 'default', name, rule: 0 },
});

const h2cBackend = (id: string, p: number): IRBackend =>
  ({ id, source: { kind: 'Service', namespace: 'default', name: id }, protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: p }] });

before(async () => {
  g = await startGrpcEcho('g');
  // Records the grpc-timeout it is sent and answers OK at once (Trailers-Only).
  capture = http2.createServer();
  capture.on('stream', (stream, headers) => {
    captured.push((headers['grpc-timeout'] as string | undefined) ?? null);
    stream.on('error', () => {});
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
  });
  await new Promise<void>((r) => capture.listen(0, '127.0.0.1', () => r()));
  flaky = http2.createServer();
  flaky.on('stream', (stream, headers) => {
    flakySeen.push(String(headers['grpc-timeout']));
    stream.on('error', () => {});
    stream.resume();
    if (flakySeen.length === 1) stream.respond({ ':status': 503 }, { endStream: true });
    else stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', () => r()));
  port = await freePort();
  dp = await createDataPlane({ workers: 0 });
  const r = await dp.apply(ir(1, [listener('grpc', port, {
    'enforce.test': [grpcRoute('enforce', 'g', {
      filters: [{ type: 'RequestHeaderModifier', set: [], add: [], remove: ['grpc-timeout'] }],
    })],
    'plain.test': [grpcRoute('plain', 'g')],
    'capture.test': [grpcRoute('capture', 'capture')],
    'capped.test': [grpcRoute('capped', 'capture', { timeouts: { requestMs: 1000 } })],
    'retry.test': [grpcRoute('retry', 'flaky', { retry: { codes: [503], attempts: 1, backoffMs: 200 } })],
  })], [
    h2cBackend('g', g.port),
    h2cBackend('capture', (capture.address() as net.AddressInfo).port),
    h2cBackend('flaky', (flaky.address() as net.AddressInfo).port),
  ]));
  assert.deepEqual(r.bindErrors, {});
  session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
});

after(async () => {
  session?.close();
  for (const c of clients) c.close();
  await dp?.close();
  capture?.close();
  flaky?.close();
  await g?.close();
});

interface RawResult {
  status: string | undefined;
  message: string | undefined;
  /** The HEADERS frame carried grpc-status and ended the stream: Trailers-Only. */
  trailersOnly: boolean;
  body: string;
  ms: number;
}

/** One unary call over a raw HTTP/2 stream: a JSON message in gRPC framing, extra request headers as given. */
function rawCall(authority: string, message: unknown, headers: Record<string, string>, method = 'Unary'): Promise<RawResult> {
  const json = Buffer.from(JSON.stringify(message));
  const frame = Buffer.alloc(5 + json.length);
  frame.writeUInt32BE(json.length, 1);
  json.copy(frame, 5);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST', ':path': `/${TEST_SERVICE}/${method}`, ':authority': authority,
      'content-type': 'application/grpc', te: 'trailers', ...headers,
    });
    const out: RawResult = { status: undefined, message: undefined, trailersOnly: false, body: '', ms: 0 };
    req.on('response', (h, flags) => {
      if (h['grpc-status'] !== undefined) {
        out.status = String(h['grpc-status']);
        out.message = h['grpc-message'] as string | undefined;
        out.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      }
    });
    req.on('trailers', (t) => {
      out.status = String(t['grpc-status']);
      out.message = t['grpc-message'] as string | undefined;
    });
    req.on('data', (d: Buffer) => (out.body += d.toString('latin1')));
    req.on('error', reject);
    req.on('close', () => {
      out.ms = performance.now() - t0;
      resolve(out);
    });
    req.end(frame);
  });
}

function grpcClient(authority: string): grpc.Client {
  const c = new TestClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  clients.push(c);
  return c;
}

async function cancelledCalls(): Promise<number> {
  return (await unary(grpcClient('plain.test'), 'Stats', {})).reply.cancelled as number;
}

test('an overdue call ends with DEADLINE_EXCEEDED from Portico (Trailers-Only), the backend stream is cancelled, a 5xx is counted', async () => {
  const before = await cancelledCalls();
  const r = await rawCall('enforce.test', { delayMs: 5000 }, { 'grpc-timeout': '200m' });
  assert.equal(r.status, String(grpc.status.DEADLINE_EXCEEDED), JSON.stringify(r));
  assert.ok(r.trailersOnly, 'one HEADERS frame ending the stream');
  assert.match(r.message ?? '', /portico/, 'Portico, not the backend, ended the call');
  assert.ok(r.ms >= 190 && r.ms < 3000, `ended after ${Math.round(r.ms)} ms`);
  let cancelled = before;
  for (let i = 0; i < 100 && cancelled === before; i++) {
    await new Promise((res) => setTimeout(res, 20));
    cancelled = await cancelledCalls();
  }
  assert.ok(cancelled > before, 'the backend saw its stream cancelled');
  assert.match(await dp.metrics(), /portico_http_requests_total\{[^}]*route="default\/enforce"[^}]*code="5xx"\} 1/);
});

test('a stream still running at its deadline ends with DEADLINE_EXCEEDED in trailers after the messages already relayed', async () => {
  const r = await rawCall('enforce.test', { count: 100, intervalMs: 20 }, { 'grpc-timeout': '300m' }, 'ServerStream');
  assert.equal(r.status, String(grpc.status.DEADLINE_EXCEEDED), JSON.stringify(r));
  assert.ok(!r.trailersOnly);
  assert.match(r.message ?? '', /portico/);
  const messages = r.body.split('"name":"g"').length - 1;
  assert.ok(messages > 0 && messages < 100, `${messages} messages before the deadline`);
});

test('calls within their deadline succeed, over a raw stream and from grpc-js with its own deadline', async () => {
  const r = await rawCall('enforce.test', { delayMs: 50 }, { 'grpc-timeout': '5S' });
  assert.equal(r.status, '0', JSON.stringify(r));
  assert.match(r.body, /"name":"g"/);
  const ok = await unary(grpcClient('plain.test'), 'Unary', { delayMs: 50 }, { deadlineMs: 5000 });
  assert.equal(ok.error, undefined, ok.error?.message);
  assert.equal(ok.reply.name, 'g');
});

test('malformed grpc-timeout values are ignored: no deadline, no error', async () => {
  const values = ['1x', '123456789S', '-5m', '1.5S', 'soon'];
  const results = await Promise.all(values.map((v) => rawCall('enforce.test', { delayMs: 150 }, { 'grpc-timeout': v })));
  values.forEach((v, i) => assert.equal(results[i].status, '0', `${v}: ${JSON.stringify(results[i])}`));
});

test('the backend gets the time left in milliseconds, capped by timeouts.request; malformed values pass unchanged', async () => {
  captured.length = 0;
  assert.equal((await rawCall('capture.test', {}, { 'grpc-timeout': '10S' })).status, '0');
  assert.equal((await rawCall('capped.test', {}, { 'grpc-timeout': '10S' })).status, '0');
  assert.equal((await rawCall('capture.test', {}, { 'grpc-timeout': 'soon' })).status, '0');
  assert.equal((await rawCall('capture.test', {}, {})).status, '0');
  assert.equal(captured.length, 4);
  const ms = (v: string | null) => Number(/^(\d+)m$/.exec(v ?? '')?.[1] ?? NaN);
  assert.ok(ms(captured[0]) > 9000 && ms(captured[0]) <= 10000, `forwarded ${captured[0]}`);
  assert.ok(ms(captured[1]) > 0 && ms(captured[1]) <= 1000, `capped: forwarded ${captured[1]}`);
  assert.equal(captured[2], 'soon');
  assert.equal(captured[3], null, 'no header is invented');
});

test('a retry tells the backend what is left after the first attempt and the backoff', async () => {
  assert.equal((await rawCall('retry.test', {}, { 'grpc-timeout': '5S' })).status, '0');
  assert.equal(flakySeen.length, 2);
  const [first, second] = flakySeen.map((v) => Number(/^(\d+)m$/.exec(v)?.[1] ?? NaN));
  assert.ok(first <= 5000 && second <= first - 190, `attempts told ${flakySeen.join(', ')}`);
});
