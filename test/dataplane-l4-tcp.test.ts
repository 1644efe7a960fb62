// TCP listeners through real sockets: echo, half-close, weighted split, endpoint round-robin,
// refusals, failover to a live endpoint, large transfers, live update and close().
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { createTcpServer, l4MetricValue, l4Metrics } from '../src/dataplane/l4/index.ts';
import type { L4StreamServer } from '../src/dataplane/l4/index.ts';
import type { IRBackend, IRListener } from '../src/ir/types.ts';
import { backend, l4route, listenProxy, listener, tcpEcho, tcpExchange } from './support/l4-net.ts';
import type { Closable } from './support/l4-net.ts';
import { waitFor } from './support/wait.ts';

const servers: Closable[] = [];
const proxies: L4StreamServer[] = [];
let e1: Closable, e2: Closable, e3: Closable;
let backends: Record<string, IRBackend>;

before(async () => {
  [e1, e2, e3] = await Promise.all([tcpEcho('E1'), tcpEcho('E2'), tcpEcho('E3')]);
  servers.push(e1, e2, e3);
  backends = {
    b1: backend('b1', [e1.port]),
    b2: backend('b2', [e2.port]),
    b3: backend('b3', [e3.port]),
    pair: backend('pair', [e1.port, e2.port]),
    empty: backend('empty', []),
  };
});

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function start(listeners: IRListener[], bs = backends): Promise<{ proxy: L4StreamServer; port: number }> {
  const proxy = createTcpServer(listeners, bs, { connectTimeoutMs: 2000 });
  proxies.push(proxy);
  return { proxy, port: await listenProxy(proxy.server) };
}

function tcpListener(refs: [string | undefined, number][]): IRListener[] {
  return [listener('tcp', 'TCP', 0, [l4route('r', refs)])];
}

test('echo through the proxy, with half-close carried both ways', async () => {
  const { port } = await start(tcpListener([['b1', 1]]));
  // The backend sends its byte count only after our FIN reached it, and we still receive it.
  const r = await tcpExchange(port, 'hello');
  assert.equal(r.error, undefined);
  assert.equal(r.data, 'E1\nhello' + 'E1:bytes=5\n');
});

test('half-close: the client keeps receiving after ending its writes', async () => {
  const { port } = await start(tcpListener([['b1', 1]]));
  const data = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    s.on('error', reject);
    s.on('data', (d) => {
      got += d;
      if (got === 'E1\nabc') s.end(); // end our side mid-stream; the reply must still arrive
    });
    s.on('close', () => resolve(got));
    s.on('connect', () => s.write('abc'));
  });
  assert.equal(data, 'E1\nabc' + 'E1:bytes=3\n');
});

test('weighted split over many connections; weight 0 never chosen', async () => {
  const { port } = await start(tcpListener([['b1', 3], ['b2', 1], ['b3', 0]]));
  const counts: Record<string, number> = { E1: 0, E2: 0, E3: 0 };
  const total = 200;
  for (let i = 0; i < total; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => tcpExchange(port, '')));
    for (const r of batch) counts[r.data.split('\n')[0]]++;
  }
  assert.equal(counts.E1 + counts.E2, total);
  assert.equal(counts.E3, 0);
  // Expected 150 / 50; binomial σ ≈ 6.1, so ±30 is about five σ.
  assert.ok(counts.E1 > 120 && counts.E1 < 180, `E1 got ${counts.E1}`);
});

test('an invalid backendRef keeps its share: that share of connections is refused', async () => {
  const { port } = await start(tcpListener([['b1', 1], [undefined, 1]]));
  let served = 0;
  const total = 100;
  for (let i = 0; i < total; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => tcpExchange(port, '')));
    served += batch.filter((r) => r.data.startsWith('E1')).length;
  }
  // Expected 50; σ = 5.
  assert.ok(served > 25 && served < 75, `served ${served} of ${total}`);
});

test('endpoints of a backend are used round-robin', async () => {
  const { port } = await start(tcpListener([['pair', 1]]));
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) seen.push((await tcpExchange(port, '')).data.split('\n')[0]);
  assert.equal(seen.filter((s) => s === 'E1').length, 3, seen.join(','));
  assert.equal(seen.filter((s) => s === 'E2').length, 3, seen.join(','));
  for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1]);
});

test('no valid backend: the connection is closed without data', async () => {
  for (const refs of [[[undefined, 1]], [['missing', 1]], [['empty', 1]], [['b1', 0]]] as [string | undefined, number][][]) {
    const { port } = await start(tcpListener(refs));
    const r = await tcpExchange(port, 'x');
    assert.equal(r.data, '', JSON.stringify(refs));
  }
  const { port } = await start([listener('tcp', 'TCP', 0, [])]);
  assert.equal((await tcpExchange(port, 'x')).data, '');
  const labels = { listener: 'default/gw/tcp', protocol: 'TCP' as const, port };
  assert.equal(l4MetricValue('portico_l4_connections_rejected_total', labels, { reason: 'no_route' }), 1);
});

test('a dead endpoint is skipped: the next one in round-robin order serves', async () => {
  const dead = net.createServer();
  const deadPort = await new Promise<number>((r) => dead.listen(0, '127.0.0.1', () => r((dead.address() as net.AddressInfo).port)));
  await new Promise((r) => dead.close(r));
  const bs = { ...backends, flaky: backend('flaky', [deadPort, e3.port]) };
  const { port } = await start(tcpListener([['flaky', 1]]), bs);
  for (let i = 0; i < 4; i++) assert.equal((await tcpExchange(port, 'x')).data, 'E3\nx' + 'E3:bytes=1\n');
  assert.ok(l4MetricValue('portico_l4_upstream_connect_errors_total', { listener: 'default/gw/tcp', protocol: 'TCP', port }) >= 2);
});

test('backend reset closes the client connection', async () => {
  const rude = net.createServer((s) => s.resetAndDestroy());
  const rudePort = await new Promise<number>((r) => rude.listen(0, '127.0.0.1', () => r((rude.address() as net.AddressInfo).port)));
  const { port } = await start(tcpListener([['rude', 1]]), { ...backends, rude: backend('rude', [rudePort]) });
  const r = await tcpExchange(port, 'x', { end: false });
  assert.equal(r.data, '');
  await new Promise((r2) => rude.close(r2));
});

test('large transfer arrives intact (backpressure through pipe)', async () => {
  const { port } = await start(tcpListener([['b1', 1]]));
  const payload = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i * 2654435761 >>> 0, i);
  const received = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on('data', (d) => parts.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(parts)));
    s.on('connect', () => s.end(payload));
  });
  const head = Buffer.from('E1\n');
  const tail = Buffer.from(`E1:bytes=${payload.length}\n`);
  assert.equal(received.length, head.length + payload.length + tail.length);
  const body = received.subarray(head.length, head.length + payload.length);
  assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(payload).digest('hex'));
});

test('live update keeps open connections on their backend; close() ends them', async () => {
  const { proxy, port } = await start(tcpListener([['b1', 1]]));
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  let got = '';
  s.on('data', (d) => (got += d));
  await waitFor(() => got === 'E1\n');
  proxy.update(tcpListener([['b2', 1]]), backends);
  assert.equal((await tcpExchange(port, 'n')).data, 'E2\nn' + 'E2:bytes=1\n');
  s.write('still');
  await waitFor(() => got === 'E1\nstill');
  assert.equal(proxy.connections, 1);
  const closed = new Promise((r) => s.on('close', r));
  await proxy.close();
  await closed;
  assert.equal(proxy.connections, 0);
});

test('close(graceMs) lets open connections finish, then returns', async () => {
  const { proxy, port } = await start(tcpListener([['b1', 1]]));
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  let got = '';
  s.on('data', (d) => (got += d));
  const ended = new Promise((r) => s.on('close', r));
  await waitFor(() => got === 'E1\n');
  const t0 = Date.now();
  const closing = proxy.close(5000);
  // New connections are refused while the open one finishes normally.
  assert.notEqual((await tcpExchange(port, 'late')).error, undefined);
  s.end('bye');
  await ended;
  await closing;
  assert.equal(got, 'E1\nbye' + 'E1:bytes=3\n');
  assert.ok(Date.now() - t0 < 4000, 'close() returned once the connection was done');
});

test('idle connections are closed after idleTimeoutMs (option given at update)', async () => {
  const { proxy, port } = await start(tcpListener([['b1', 1]]));
  proxy.update(tcpListener([['b1', 1]]), backends, { idleTimeoutMs: 150 });
  const t0 = Date.now();
  const r = await tcpExchange(port, 'idle', { end: false });
  const took = Date.now() - t0;
  assert.equal(r.data, 'E1\nidle');
  assert.ok(took >= 100 && took < 3000, `closed after ${took} ms`);
});

test('l4Metrics() renders Prometheus text with the listener labels', async () => {
  const { port } = await start(tcpListener([['b1', 1]]));
  await tcpExchange(port, 'metrics');
  const text = l4Metrics();
  assert.match(text, /^# TYPE portico_l4_connections_total counter$/m);
  const line = `portico_l4_received_bytes_total{listener="default/gw/tcp",protocol="TCP",port="${port}"} 7`;
  assert.ok(text.split('\n').includes(line), `missing ${line}`);
  assert.ok(text.includes(`portico_l4_sent_bytes_total{listener="default/gw/tcp",protocol="TCP",port="${port}"} ${'E1\nmetrics'.length + 'E1:bytes=7\n'.length}`));
});
