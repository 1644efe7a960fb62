// UDP listeners through real sockets: datagrams both ways for several clients, per-client session
// affinity, idle expiry, weights, refusals, live update and bind errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createUdpProxy, l4MetricValue } from '../src/dataplane/l4/index.ts';
import type { UdpProxy } from '../src/dataplane/l4/index.ts';
import type { IRBackend, IRListener } from '../src/ir/types.ts';
import { backend, l4route, listener, udpClient, udpEcho } from './support/l4-net.ts';
import type { Closable } from './support/l4-net.ts';
import { waitFor } from './support/wait.ts';

let u1: Closable & { sources: Set<number> };
let u2: Closable & { sources: Set<number> };
let backends: Record<string, IRBackend>;
const proxies: UdpProxy[] = [];
const clients: { close(): void }[] = [];

before(async () => {
  [u1, u2] = await Promise.all([udpEcho('U1'), udpEcho('U2')]);
  backends = {
    b1: backend('b1', [u1.port], { protocol: 'udp' }),
    b2: backend('b2', [u2.port], { protocol: 'udp' }),
    pair: backend('pair', [u1.port, u2.port], { protocol: 'udp' }),
  };
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all([u1.close(), u2.close()]);
});

function udpListener(refs: [string | undefined, number][]): IRListener[] {
  return [listener('udp', 'UDP', 0, [l4route('r', refs)])];
}

async function start(listeners: IRListener[], idleTimeoutMs?: number): Promise<{ proxy: UdpProxy; port: number }> {
  const proxy = await createUdpProxy('127.0.0.1', 0, listeners, backends, { idleTimeoutMs });
  proxies.push(proxy);
  return { proxy, port: proxy.address().port };
}

async function client() {
  const c = await udpClient();
  clients.push(c);
  return c;
}

test('datagrams both ways for several clients', async () => {
  const { proxy, port } = await start(udpListener([['b1', 1]]));
  const cs = await Promise.all([client(), client(), client()]);
  for (let round = 0; round < 3; round++) {
    const answers = await Promise.all(cs.map((c, i) => c.ask(port, `c${i}-m${round}`)));
    assert.deepEqual(answers, cs.map((_c, i) => `U1:c${i}-m${round}`));
  }
  assert.equal(proxy.sessions, 3);
  const labels = { listener: 'default/gw/udp', protocol: 'UDP' as const, port };
  assert.equal(l4MetricValue('portico_l4_udp_sessions_total', labels), 3);
  assert.equal(l4MetricValue('portico_l4_udp_datagrams_total', labels, { direction: 'client_to_upstream' }), 9);
  assert.equal(l4MetricValue('portico_l4_udp_datagrams_total', labels, { direction: 'upstream_to_client' }), 9);
});

test('session affinity: a client keeps its endpoint; sessions are spread over endpoints', async () => {
  const { port } = await start(udpListener([['pair', 1]]));
  const cs = await Promise.all([client(), client(), client(), client()]);
  const firstAnswers: string[] = [];
  for (const c of cs) {
    const first = (await c.ask(port, 'x')).split(':')[0];
    firstAnswers.push(first);
    for (let i = 0; i < 4; i++) assert.equal((await c.ask(port, `y${i}`)).split(':')[0], first);
  }
  // Round-robin over the two endpoints for new sessions.
  assert.deepEqual([...firstAnswers].sort(), ['U1', 'U1', 'U2', 'U2']);
});

test('idle sessions expire; the next datagram opens a new session from a new upstream port', async () => {
  const { proxy, port } = await start(udpListener([['b2', 1]]), 150);
  const c = await client();
  const sourcesBefore = new Set(u2.sources);
  assert.equal(await c.ask(port, 'a'), 'U2:a');
  assert.equal(await c.ask(port, 'b'), 'U2:b');
  assert.equal(proxy.sessions, 1);
  const newSources = [...u2.sources].filter((p) => !sourcesBefore.has(p));
  assert.equal(newSources.length, 1, 'one upstream socket per session');
  await waitFor(() => proxy.sessions === 0, 2000);
  assert.equal(await c.ask(port, 'c'), 'U2:c');
  assert.equal(proxy.sessions, 1);
  assert.equal([...u2.sources].filter((p) => !sourcesBefore.has(p)).length, 2, 'a new session, a new upstream socket');
});

test('activity in either direction keeps a session alive', async () => {
  const { proxy, port } = await start(udpListener([['b1', 1]]), 800);
  const c = await client();
  for (let i = 0; i < 12; i++) {
    assert.equal(await c.ask(port, `k${i}`), `U1:k${i}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(proxy.sessions, 1);
  assert.equal(l4MetricValue('portico_l4_udp_sessions_total', { listener: 'default/gw/udp', protocol: 'UDP', port }), 1);
});

test('weighted split over many sessions', async () => {
  const { port } = await start(udpListener([['b1', 3], ['b2', 1]]));
  const cs = await Promise.all(Array.from({ length: 80 }, () => client()));
  const answers = await Promise.all(cs.map((c) => c.ask(port, 'w')));
  const u1 = answers.filter((a) => a === 'U1:w').length;
  assert.equal(answers.filter((a) => a === 'U2:w').length, 80 - u1);
  // Expected 60; σ ≈ 3.9.
  assert.ok(u1 > 42 && u1 < 76, `U1 got ${u1} of 80`);
});

test('weight 0 never chosen; no valid backend drops datagrams', async () => {
  const { port } = await start(udpListener([['b1', 0], ['b2', 1]]));
  const cs = await Promise.all([client(), client(), client(), client()]);
  for (const c of cs) assert.equal(await c.ask(port, 'w'), 'U2:w');

  const dead = await start(udpListener([[undefined, 1]]));
  const c = await client();
  await assert.rejects(c.ask(dead.port, 'nothing', 300));
  const labels = { listener: 'default/gw/udp', protocol: 'UDP' as const, port: dead.port };
  assert.equal(l4MetricValue('portico_l4_udp_datagrams_dropped_total', labels, { reason: 'invalid_backend' }), 1);
});

test('live update: open sessions keep their endpoint, new sessions use the new route', async () => {
  const { proxy, port } = await start(udpListener([['b1', 1]]));
  const old = await client();
  assert.equal(await old.ask(port, 'o1'), 'U1:o1');
  proxy.update(udpListener([['b2', 1]]), backends);
  const fresh = await client();
  assert.equal(await fresh.ask(port, 'n1'), 'U2:n1');
  assert.equal(await old.ask(port, 'o2'), 'U1:o2');
});

test('bind errors reject createUdpProxy', async () => {
  const { port } = await start(udpListener([['b1', 1]]));
  await assert.rejects(createUdpProxy('127.0.0.1', port, udpListener([['b1', 1]]), backends), /EADDRINUSE/);
});
