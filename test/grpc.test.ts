// gRPC through the data plane with a real grpc-js client and server (separate process): every call
// type, metadata and trailers both ways, backend statuses passed through, deadlines (the client's
// and Portico's), and the gateway's own failures as gRPC statuses, over h2c (HTTP listener) and h2
// (HTTPS listener, ALPN).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import type { IRBackend, IRHTTPRoute } from '../src/ir/types.ts';
import { freePort } from './support/client.ts';
import { ir, listener, match, route, to } from './support/ir.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';
import { startGrpcEcho, TestClient, TEST_SERVICE, unary, type GrpcEcho } from './support/grpc-echo.ts';

let g1: GrpcEcho;
let dp: DataPlane;
let h2cPort: number;
let h2Port: number;
let ca: CA;
const clients: grpc.Client[] = [];

const grpcRoute = (name: string, path: IRHTTPRoute['match']['path'], backends: IRHTTPRoute['backends'], extra: Partial<IRHTTPRoute> = {}): IRHTTPRoute =>
  ({ ...route(name, match(path), backends, extra), kind: 'grpc', source: { kind: 'GRPCRoute', namespace: 'default', name, rule: 0 } });

function grpcBackend(id: string, port: number): IRBackend {
  return { id, source: { kind: 'Service', namespace: 'default', name: id }, protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port }] };
}

before(async () => {
  ca = await makeCA();
  const cert = await makeCert(ca, { dns: ['grpc.example.com'] });
  g1 = await startGrpcEcho('g1');
  [h2cPort, h2Port] = await Promise.all([freePort(), freePort()]);
  const closed = await freePort(); // nothing listens here: connection refused
  const svc = { type: 'PathPrefix' as const, value: `/${TEST_SERVICE}/` };
  const routes = (timeoutMs?: number) => [
    grpcRoute('echo', svc, [to('g1')], timeoutMs ? { timeouts: { requestMs: timeoutMs } } : {}),
  ];
  const vhosts = {
    'slow.test': routes(300),
    'invalid.test': [grpcRoute('invalid', svc, [{ weight: 1, invalidStatus: 500, filters: [] }])],
    'refused.test': [grpcRoute('refused', svc, [to('refused')])],
    '*': routes(),
  };
  dp = await createDataPlane({ workers: 0 });
  const r = await dp.apply(ir(1, [
    listener('grpc', h2cPort, vhosts),
    listener('grpcs', h2Port, vhosts, { protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [{ ...cert, source: { kind: 'Secret', name: 'grpc' } }] } }),
  ], [grpcBackend('g1', g1.port), grpcBackend('refused', closed)]));
  assert.deepEqual(r.bindErrors, {});
});

after(async () => {
  for (const c of clients) c.close();
  await dp?.close();
  await g1?.close();
});

function client(authority: string, secure = false): grpc.Client {
  const c = secure
    ? new TestClient(`127.0.0.1:${h2Port}`, grpc.credentials.createSsl(Buffer.from(ca.certPem)), { 'grpc.default_authority': authority, 'grpc.ssl_target_name_override': 'grpc.example.com' })
    : new TestClient(`127.0.0.1:${h2cPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  clients.push(c);
  return c;
}

function serverStream(c: grpc.Client, request: unknown): Promise<{ items: any[]; error?: grpc.ServiceError; trailers?: grpc.Metadata; headers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const out: { items: any[]; error?: grpc.ServiceError; trailers?: grpc.Metadata; headers?: grpc.Metadata } = { items: [] };
    const call = (c as any).ServerStream(request) as grpc.ClientReadableStream<any>;
    call.on('metadata', (m: grpc.Metadata) => { out.headers = m; });
    call.on('data', (d: any) => out.items.push(d));
    call.on('error', (e: grpc.ServiceError) => { out.error = e; });
    call.on('status', (s: grpc.StatusObject) => { out.trailers = s.metadata; setImmediate(() => resolve(out)); });
  });
}

function clientStream(c: grpc.Client, n: number): Promise<any> {
  return new Promise((resolve, reject) => {
    const call = (c as any).ClientStream((err: grpc.ServiceError | null, reply: any) => (err ? reject(err) : resolve(reply))) as grpc.ClientWritableStream<any>;
    for (let i = 0; i < n; i++) call.write({ i });
    call.end();
  });
}

/** Bidi ping-pong: each message is sent only after the answer to the previous one arrived. */
function bidi(c: grpc.Client, n: number): Promise<{ answers: any[]; trailers?: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    const call = (c as any).Bidi() as grpc.ClientDuplexStream<any, any>;
    const answers: any[] = [];
    call.on('data', (d: any) => {
      answers.push(d);
      if (answers.length < n) call.write({ i: answers.length });
      else call.end();
    });
    call.on('error', reject);
    call.on('status', (s: grpc.StatusObject) => setImmediate(() => resolve({ answers, trailers: s.metadata })));
    call.write({ i: 0 });
  });
}

for (const secure of [false, true]) {
  const over = secure ? 'h2 (HTTPS listener)' : 'h2c (HTTP listener)';

  test(`unary over ${over}: metadata both ways, initial metadata and trailers (binary too) passed through`, async () => {
    const r = await unary(client('any.test', secure), 'Unary', {}, { metadata: { 'x-echo-request': 'abc', 'x-custom': 'v' } });
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.reply.name, 'g1');
    assert.equal(r.reply.method, `/${TEST_SERVICE}/Unary`);
    assert.equal(r.reply.authority, 'any.test');
    assert.equal(r.reply.metadata['x-custom'], 'v');
    assert.equal(r.reply.metadata['x-forwarded-proto'], secure ? 'https' : 'http');
    assert.deepEqual(r.headers?.get('x-echo-initial'), ['g1']);
    assert.deepEqual(r.trailers?.get('x-echo-trailer'), ['g1']);
    assert.deepEqual(r.trailers?.get('x-echo-request-trailer'), ['abc']);
    assert.deepEqual(r.trailers?.get('x-echo-bin-bin'), [Buffer.from([0, 1, 2, 255])]);
  });

  test(`server, client and bidirectional streaming over ${over}`, async () => {
    const c = client('any.test', secure);
    const s = await serverStream(c, { count: 25 });
    assert.equal(s.error, undefined, s.error?.message);
    assert.deepEqual(s.items.map((x) => x.i), Array.from({ length: 25 }, (_, i) => i));
    assert.deepEqual(s.headers?.get('x-echo-initial'), ['g1']);
    assert.deepEqual(s.trailers?.get('x-echo-trailer'), ['g1']);
    const cs = await clientStream(c, 40);
    assert.equal(cs.received, 40);
    const b = await bidi(c, 15);
    assert.deepEqual(b.answers.map((x) => x.i), Array.from({ length: 15 }, (_, i) => i));
    assert.deepEqual(b.trailers?.get('x-echo-trailer'), ['g1']);
  });

  test(`backend statuses pass through with their details and trailers over ${over}`, async () => {
    const c = client('any.test', secure);
    const r = await unary(c, 'Unary', { fail: { code: grpc.status.NOT_FOUND, details: 'no such thing' } });
    assert.equal(r.error?.code, grpc.status.NOT_FOUND);
    assert.equal(r.error?.details, 'no such thing');
    assert.deepEqual(r.trailers?.get('x-echo-trailer'), ['g1']);
    const s = await serverStream(c, { count: 3, failAfter: { code: grpc.status.RESOURCE_EXHAUSTED, details: 'enough' } });
    assert.equal(s.items.length, 3);
    assert.equal(s.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(s.error?.details, 'enough');
  });

  test(`gateway failures are gRPC statuses over ${over}: no route UNIMPLEMENTED, invalid or unreachable backend UNAVAILABLE`, async () => {
    const other = new (grpc.makeGenericClientConstructor({
      Nope: { path: '/other.Service/Nope', requestStream: false, responseStream: false, requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)), requestDeserialize: (b: Buffer) => b, responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)), responseDeserialize: (b: Buffer) => b },
    }, 'Other'))(secure ? `127.0.0.1:${h2Port}` : `127.0.0.1:${h2cPort}`, secure ? grpc.credentials.createSsl(Buffer.from(ca.certPem)) : grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'any.test', 'grpc.ssl_target_name_override': 'grpc.example.com',
    });
    clients.push(other);
    assert.equal((await unary(other, 'Nope', {})).error?.code, grpc.status.UNIMPLEMENTED);
    assert.equal((await unary(client('invalid.test', secure), 'Unary', {})).error?.code, grpc.status.UNAVAILABLE);
    assert.equal((await unary(client('refused.test', secure), 'Unary', {})).error?.code, grpc.status.UNAVAILABLE);
    // and the streaming kinds of call, answered the same way (a client still sending is no problem)
    assert.equal((await serverStream(client('invalid.test', secure), { count: 1 })).error?.code, grpc.status.UNAVAILABLE);
    await assert.rejects(clientStream(client('invalid.test', secure), 50), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    await assert.rejects(bidi(client('refused.test', secure), 5), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });
}

test('client deadline: DEADLINE_EXCEEDED at the client, and the backend sees the call cancelled', async () => {
  const c = client('any.test');
  const before = (await unary(c, 'Stats', {})).reply.cancelled as number;
  const t0 = Date.now();
  const r = await unary(c, 'Unary', { delayMs: 3000 }, { deadlineMs: 200 });
  assert.equal(r.error?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - t0 < 2000);
  let cancelled = before;
  for (let i = 0; i < 50 && cancelled === before; i++) {
    await new Promise((res) => setTimeout(res, 20));
    cancelled = (await unary(c, 'Stats', {})).reply.cancelled as number;
  }
  assert.ok(cancelled > before, 'the cancellation (RST_STREAM) reached the backend');
});

test('Portico timeout: DEADLINE_EXCEEDED before the response starts, and in trailers once a stream has started', async () => {
  for (const secure of [false, true]) {
    const c = client('slow.test', secure);
    const r = await unary(c, 'Unary', { delayMs: 3000 });
    assert.equal(r.error?.code, grpc.status.DEADLINE_EXCEEDED, r.error?.message);
    // initial metadata first, then nothing: the timeout ends the call with a status in trailers
    const h = await unary(c, 'Unary', { delayMs: 3000, sendHeadersFirst: true });
    assert.equal(h.error?.code, grpc.status.DEADLINE_EXCEEDED, h.error?.message);
    assert.deepEqual(h.headers?.get('x-echo-initial'), ['g1']);
    const s = await serverStream(c, { count: 100, intervalMs: 50 });
    assert.ok(s.items.length > 0 && s.items.length < 100, `${s.items.length} messages before the timeout`);
    assert.equal(s.error?.code, grpc.status.DEADLINE_EXCEEDED, s.error?.message);
    // fast calls on the same route are unaffected
    assert.equal((await unary(c, 'Unary', {})).reply?.name, 'g1');
  }
});

test('a backend that dies mid-stream: the call ends with UNAVAILABLE in trailers, not a bare reset', async () => {
  const doomed = await startGrpcEcho('doomed');
  const p = await freePort();
  const local = await createDataPlane({ workers: 0 });
  try {
    await local.apply(ir(1, [listener('grpc', p, { '*': [grpcRoute('doomed', { type: 'PathPrefix', value: '/' }, [to('doomed')])] })], [grpcBackend('doomed', doomed.port)]));
    const c = new TestClient(`127.0.0.1:${p}`, grpc.credentials.createInsecure());
    clients.push(c);
    const got = await new Promise<{ items: number; error?: grpc.ServiceError }>((resolve) => {
      let items = 0;
      let error: grpc.ServiceError | undefined;
      const call = (c as any).ServerStream({ count: 1000, intervalMs: 20 }) as grpc.ClientReadableStream<any>;
      call.on('data', () => { if (++items === 3) void doomed.close(); });
      call.on('error', (e: grpc.ServiceError) => { error = e; });
      call.on('status', () => setImmediate(() => resolve({ items, error })));
    });
    assert.ok(got.items >= 3 && got.items < 1000);
    assert.equal(got.error?.code, grpc.status.UNAVAILABLE, got.error?.message);
  } finally {
    await local.close();
    await doomed.close();
  }
});
