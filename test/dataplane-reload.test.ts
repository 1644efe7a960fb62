// Live reconfiguration: generations swap under steady load without a failed request, listeners
// open and close as ports come and go, bind errors are reported, metrics follow.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

let a: EchoBackend;
let b: EchoBackend;
let dp: DataPlane;

before(async () => {
  [a, b] = await Promise.all([startEcho('a'), startEcho('b')]);
  dp = await createDataPlane({ workers: 0 });
});

after(async () => {
  await dp?.close();
  await Promise.all([a?.close(), b?.close()]);
});

const backends = () => [backend('a', a), backend('b', b)];

test('60 generations under steady concurrent load: zero failed requests, new config wins', async () => {
  const port = await freePort();
  const gen = (n: number) => ir(n, [
    listener('http', port, {
      '*': [
        route(`r${n}`, match({ type: 'PathPrefix', value: '/' }), [to(n % 2 === 0 ? 'a' : 'b')], {
          filters: [{ type: 'ResponseHeaderModifier', set: [{ name: 'x-gen', value: String(n) }], add: [], remove: [] }],
        }),
      ],
    }),
  ], backends());
  await dp.apply(gen(1));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (!stop) {
      try {
        const r = await request(port, '/load?delay=2', { host: 'x', agent });
        if (r.status === 200) ok++;
        else failures.push(`status ${r.status}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  for (let n = 2; n <= 61; n++) {
    const res = await dp.apply(gen(n));
    assert.equal(res.generation, n);
    await new Promise((r) => setTimeout(r, 5));
  }
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  assert.deepEqual(failures, []);
  assert.ok(ok > 60, `only ${ok} requests`);
  const last = await request(port, '/', { host: 'x' });
  assert.equal(last.headers['x-gen'], '61', 'apply resolves only when live');
  assert.equal(last.json().name, 'b');
  assert.match(await dp.metrics(), /portico_config_generation 61/);
});

test('listeners open and close as ports come and go; other ports untouched', async () => {
  const [p1, p2] = await Promise.all([freePort(), freePort()]);
  const l = (name: string, port: number, to_: string) => listener(name, port, { '*': [route(name, match(), [to(to_)])] });
  await dp.apply(ir(100, [l('one', p1, 'a')], backends()));
  const keep = new http.Agent({ keepAlive: true });
  assert.equal((await request(p1, '/', { host: 'x', agent: keep })).json().name, 'a');
  await dp.apply(ir(101, [l('one', p1, 'a'), l('two', p2, 'b')], backends()));
  assert.equal((await request(p2, '/', { host: 'x' })).json().name, 'b');
  assert.equal((await request(p1, '/', { host: 'x', agent: keep })).json().name, 'a', 'kept connection still served');
  await dp.apply(ir(102, [l('two', p2, 'b')], backends()));
  await assert.rejects(request(p1, '/', { host: 'x' }), /ECONNREFUSED/);
  assert.equal((await request(p2, '/', { host: 'x' })).json().name, 'b');
  keep.destroy();
});

test('a port that cannot be bound is reported in bindErrors; the rest is served', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const busy = (blocker.address() as net.AddressInfo).port;
  const free = await freePort();
  const res = await dp.apply(ir(200, [
    listener('busy', busy, { '*': [route('busy', match(), [to('a')])] }),
    listener('free', free, { '*': [route('free', match(), [to('b')])] }),
  ], backends()));
  blocker.close();
  assert.match(res.bindErrors[`127.0.0.1:${busy}`] ?? '', /EADDRINUSE/);
  assert.equal((await request(free, '/', { host: 'x' })).json().name, 'b');
});

test('access log: one JSON line per request naming gateway, listener, route, backend, status', async () => {
  const logged = await createDataPlane({ workers: 0, accessLog: true });
  const port = await freePort();
  await logged.apply(ir(1, [listener('http', port, { '*': [route('logged', match(), [to('a')])] })], backends()));
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => { lines.push(String(chunk)); return true; }) as typeof process.stdout.write;
  try {
    await request(port, '/hello', { host: 'x' });
  } finally {
    process.stdout.write = write;
    await logged.close();
  }
  const entry = JSON.parse(lines.find((l) => l.includes('"route"')) ?? '{}');
  assert.equal(entry.gateway, 'default/gw');
  assert.equal(entry.listener, 'http');
  assert.equal(entry.route, 'default/logged');
  assert.equal(entry.rule, '0');
  assert.equal(entry.backend, 'a');
  assert.equal(entry.status, 200);
  assert.equal(typeof entry.durationMs, 'number');
});

test('TCP listeners of the IR are served through the l4 module, next to HTTP ports', async () => {
  const { tcpEcho, listener: l4listener, l4route, backend: l4backend, tcpExchange } = await import('./support/l4-net.ts');
  const echo = await tcpEcho('t1');
  const [tcpPort, httpPort] = await Promise.all([freePort(), freePort()]);
  const model = ir(300, [
    listener('http', httpPort, { '*': [route('h', match(), [to('a')])] }),
    l4listener('tcp', 'TCP', tcpPort, [l4route('t', [['tcp-echo', 1]])]),
  ], [...backends(), l4backend('tcp-echo', [echo.port])]);
  model.gateways[0].addresses = ['127.0.0.1'];
  const res = await dp.apply(model);
  assert.deepEqual(res.bindErrors, {});
  const r = await tcpExchange(tcpPort, 'ping');
  assert.match(r.data, /^t1\nping/);
  assert.equal((await request(httpPort, '/', { host: 'x' })).json().name, 'a');
  await echo.close();
});

test('several gateways on one address:port share the socket, dispatched by Host', async () => {
  const port = await freePort();
  const one = ir(400, [listener('one', port, { 'one.test': [route('one', match(), [to('a')])] }, { hostname: 'one.test' })], backends(), 'gw-one');
  const two = ir(400, [listener('two', port, { 'two.test': [route('two', match(), [to('b')])] }, { hostname: 'two.test' })], backends(), 'gw-two');
  const res = await dp.apply({ ...one, gateways: [...one.gateways, ...two.gateways] });
  assert.deepEqual(res.bindErrors, {});
  assert.equal((await request(port, '/', { host: 'one.test' })).json().name, 'a');
  assert.equal((await request(port, '/', { host: 'two.test' })).json().name, 'b');
  assert.equal((await request(port, '/', { host: 'three.test' })).status, 404);
});

test('HTTPS certificates rotate on apply without reopening the port', async () => {
  const https = await import('node:https');
  const { makeCA, makeCert } = await import('./support/tls-certs.ts');
  const ca = await makeCA();
  const [c1, c2] = await Promise.all([makeCert(ca, { dns: ['rot.test'], cn: 'first' }), makeCert(ca, { dns: ['rot.test'], cn: 'second' })]);
  const port = await freePort();
  const gen = (n: number, c: { certPem: string; keyPem: string }) => ir(n, [listener('tls', port, { '*': [route('tls', match(), [to('a')])] }, {
    protocol: 'HTTPS', hostname: 'rot.test', tls: { mode: 'Terminate', certificates: [{ ...c, source: { kind: 'Secret', name: 'c' } }] },
  })], backends());
  const subject = () => new Promise<string>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: 'rot.test', headers: { host: 'rot.test' }, ca: ca.certPem, agent: false }, (res) => {
      const cn = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN;
      res.resume();
      res.on('end', () => resolve(String(cn)));
    });
    req.on('error', reject);
    req.end();
  });
  await dp.apply(gen(500, c1));
  assert.equal(await subject(), 'first');
  await dp.apply(gen(501, c2));
  assert.equal(await subject(), 'second');
});

test('a port that changes from HTTP to HTTPS is reopened with the new protocol', async () => {
  const https = await import('node:https');
  const { makeCA, makeCert } = await import('./support/tls-certs.ts');
  const ca = await makeCA();
  const leaf = await makeCert(ca, { dns: ['p.test'] });
  const port = await freePort();
  const r = (protocol: 'HTTP' | 'HTTPS', n: number) => ir(n, [listener('l', port, { '*': [route('l', match(), [to('a')])] }, protocol === 'HTTPS'
    ? { protocol, tls: { mode: 'Terminate', certificates: [{ ...leaf, source: { kind: 'Secret', name: 'c' } }] } }
    : {})], backends());
  await dp.apply(r('HTTP', 600));
  assert.equal((await request(port, '/', { host: 'p.test' })).status, 200);
  const res = await dp.apply(r('HTTPS', 601));
  assert.deepEqual(res.bindErrors, {});
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, servername: 'p.test', headers: { host: 'p.test' }, ca: ca.certPem, agent: false }, (resp) => {
      resp.resume();
      resp.on('end', () => resolve(resp.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 200);
});

test('metric series of routes gone for a while are dropped', async () => {
  const port = await freePort();
  const gen = (n: number, name: string) => ir(n, [listener('m', port, { '*': [route(name, match(), [to('a')])] })], backends());
  await dp.apply(gen(700, 'gone-soon'));
  await request(port, '/', { host: 'x' });
  assert.match(await dp.metrics(), /route="default\/gone-soon"/);
  for (let n = 701; n <= 725; n++) await dp.apply(gen(n, 'stays'));
  const text = await dp.metrics();
  assert.doesNotMatch(text, /route="default\/gone-soon"/);
  assert.match(text, /portico_config_reloads_total \d+/);
});

/** A listener whose one route goes to `to_` and stamps responses with x-gen: n. */
const stamped = (n: number, port: number, to_: string, name = 'inflight') => listener(name, port, {
  '*': [route(`r${n}`, match(), [to(to_)], {
    filters: [{ type: 'ResponseHeaderModifier', set: [{ name: 'x-gen', value: String(n) }], add: [], remove: [] }],
  })],
});

test('a request in flight during an apply finishes on the generation it started with; the next one uses the new one', async () => {
  const port = await freePort();
  await dp.apply(ir(800, [stamped(800, port, 'a')], backends()));
  const slow = request(port, '/slow?delay=600', { host: 'x' });
  await new Promise((r) => setTimeout(r, 150)); // the request has reached backend a
  await dp.apply(ir(801, [stamped(801, port, 'b')], backends()));
  const next = await request(port, '/', { host: 'x' });
  assert.equal(next.json().name, 'b');
  assert.equal(next.headers['x-gen'], '801');
  const first = await slow;
  assert.equal(first.status, 200);
  assert.equal(first.json().name, 'a', 'routed by generation 800');
  assert.equal(first.headers['x-gen'], '800', 'and filtered by it, though 801 was live when it answered');
});

test('a listener removed while a request on it is in flight: the request completes, new connections are refused', async () => {
  const [gone, stays] = await Promise.all([freePort(), freePort()]);
  await dp.apply(ir(810, [stamped(810, gone, 'a', 'gone'), stamped(810, stays, 'b', 'stays')], backends()));
  const slow = request(gone, '/slow?delay=600', { host: 'x' });
  await new Promise((r) => setTimeout(r, 150));
  await dp.apply(ir(811, [stamped(811, stays, 'b', 'stays')], backends()));
  await assert.rejects(request(gone, '/', { host: 'x' }), /ECONNREFUSED/);
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.json().name, 'a');
  assert.equal(r.headers['x-gen'], '810');
  assert.equal((await request(stays, '/', { host: 'x' })).headers['x-gen'], '811');
});

test('a keep-alive connection opened on one generation keeps working after the next; its next request uses the new routes', async () => {
  // docs/dataplane.md: a request reads the generation live when it starts, so a connection is
  // not pinned to a generation, each of its requests is routed by the newest one.
  const port = await freePort();
  await dp.apply(ir(820, [stamped(820, port, 'a')], backends()));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  const onSocket = (req: http.ClientRequest) => req.on('socket', (s) => sockets.add(s));
  try {
    const viaAgent = (path: string) => new Promise<http.IncomingMessage & { text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, headers: { host: 'x' }, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve(Object.assign(res, { text })));
      });
      onSocket(req);
      req.on('error', reject);
      req.end();
    });
    const one = await viaAgent('/');
    assert.equal(one.headers['x-gen'], '820');
    assert.equal(JSON.parse(one.text).name, 'a');
    await dp.apply(ir(821, [stamped(821, port, 'b')], backends()));
    const two = await viaAgent('/');
    assert.equal(two.statusCode, 200);
    assert.equal(two.headers['x-gen'], '821');
    assert.equal(JSON.parse(two.text).name, 'b');
    assert.equal(sockets.size, 1, 'both requests went over the one connection');
  } finally {
    agent.destroy();
  }
});
