// Data plane protocols end to end: HTTPS with SNI certificate choice among listeners sharing a
// port, 421 for misdirected requests, HTTP/2 over TLS (ALPN) and cleartext (prior knowledge),
// h2c backends, and WebSocket upgrades proxied both ways.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { WebSocket } from 'ws';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, h2request, request, type Reply } from './support/client.ts';
import { backend, certificate, ir, listener, match, route, to } from './support/ir.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';

let a: EchoBackend;
let b: EchoBackend;
let c: EchoBackend;
let dp: DataPlane;
let httpPort: number;
let httpsPort: number;
let ca: CA;


before(async () => {
  [a, b, c] = await Promise.all([startEcho('a'), startEcho('b'), startEcho('c')]);
  [httpPort, httpsPort] = await Promise.all([freePort(), freePort()]);
  ca = await makeCA();
  const [exact, wild, dflt] = await Promise.all([
    makeCert(ca, { dns: ['second.example.org'] }),
    makeCert(ca, { dns: ['*.wildcard.org'] }),
    makeCert(ca, { dns: ['example.org'] }),
  ]);
  dp = await createDataPlane({ workers: 0 });
  await dp.apply(ir(1, [
    listener('https-second', httpsPort, { '*': [route('second', match(), [to('b')])] }, {
      protocol: 'HTTPS', hostname: 'second.example.org', tls: { mode: 'Terminate', certificates: [certificate(exact, 'second')] },
    }),
    listener('https-wild', httpsPort, { '*.wildcard.org': [route('wild', match(), [to('c')])] }, {
      protocol: 'HTTPS', hostname: '*.wildcard.org', tls: { mode: 'Terminate', certificates: [certificate(wild, 'wild')] },
    }),
    listener('https', httpsPort, { 'example.org': [route('plain', match(), [to('a')])] }, {
      protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [certificate(dflt, 'default')] },
    }),
    listener('http', httpPort, {
      '*': [
        route('h2c-backend', match({ type: 'PathPrefix', value: '/h2c' }), [to('a-h2c')]),
        route('ws', match({ type: 'PathPrefix', value: '/ws' }), [to('b-ws')]),
        { ...route('grpc', match({ type: 'Exact', value: '/pkg.Svc/Method' }), [to('a-h2c')]), kind: 'grpc' },
        { ...route('grpc-broken', match({ type: 'Exact', value: '/pkg.Svc/Broken' }), []), kind: 'grpc' },
        route('any', match(), [to('a')]),
      ],
    }),
  ], [backend('a', a), backend('b', b), backend('c', c), backend('a-h2c', a, 'h2c'), backend('b-ws', b, 'ws')]));
});

after(async () => {
  await dp?.close();
  await Promise.all([a?.close(), b?.close(), c?.close()]);
});

function tlsGet(servername: string, host: string): Promise<Reply & { peer: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: httpsPort, servername, path: '/detect', headers: { host }, ca: ca.certPem, agent: false, checkServerIdentity: () => undefined }, (res) => {
      const chunks: Buffer[] = [];
      const peer = (res.socket as tls.TLSSocket).getPeerX509Certificate()?.subjectAltName ?? '';
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peer, json: () => JSON.parse(body) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('SNI picks the certificate: exact listener, wildcard listener, listener without hostname', async () => {
  assert.equal((await tlsGet('second.example.org', 'second.example.org')).peer, 'DNS:second.example.org');
  assert.equal((await tlsGet('x.wildcard.org', 'x.wildcard.org')).peer, 'DNS:*.wildcard.org');
  assert.equal((await tlsGet('example.org', 'example.org')).peer, 'DNS:example.org');
});

test('HTTPS: Host must select the listener SNI selected, else 421 (as in the conformance cases)', async () => {
  const cases: [string, string, number, string?][] = [
    ['example.org', 'example.org', 200, 'a'],
    ['example.org', 'second.example.org', 421],
    ['example.org', 'unknown.example.org', 404],
    ['second.example.org', 'second.example.org', 200, 'b'],
    ['second.example.org', 'example.org', 421],
    ['second.example.org', 'unknown.example.org', 421],
    ['third.wildcard.org', 'fifth.wildcard.org', 200, 'c'],
    ['third.wildcard.org', 'second.example.org', 421],
    ['unknown.example.org', 'example.org', 200, 'a'],
  ];
  for (const [sni, host, status, name] of cases) {
    const r = await tlsGet(sni, host);
    assert.equal(r.status, status, `sni ${sni} host ${host}`);
    if (name) assert.equal(r.json().name, name);
  }
});

test('HTTP/2 over TLS by ALPN', async () => {
  const s = http2.connect(`https://127.0.0.1:${httpsPort}`, { servername: 'example.org', ca: ca.certPem });
  try {
    const r = await h2request(s, '/h2?x=1', { host: 'example.org' });
    assert.equal(r.status, 200);
    assert.equal(r.json().name, 'a');
    assert.equal(r.json().path, '/h2?x=1');
    assert.equal(r.json().host, 'example.org');
    const misdirected = await h2request(s, '/h2', { host: 'second.example.org' });
    assert.equal(misdirected.status, 421);
  } finally {
    s.close();
  }
});

test('h2c with prior knowledge on an HTTP listener, HTTP/1.1 on the same port', async () => {
  const s = http2.connect(`http://127.0.0.1:${httpPort}`);
  try {
    const r = await h2request(s, '/p', { host: 'any.test', method: 'POST', body: 'hello' });
    assert.equal(r.status, 200);
    assert.equal(r.json().body, 'hello');
    assert.equal(r.json().headers['x-forwarded-for'], '127.0.0.1');
  } finally {
    s.close();
  }
  assert.equal((await request(httpPort, '/p', { host: 'any.test' })).json().proto, 'HTTP/1.1');
});

test('h2c backend (appProtocol kubernetes.io/h2c)', async () => {
  const r = await request(httpPort, '/h2c/x', { host: 'any.test' });
  assert.equal(r.status, 200);
  assert.equal(r.json().proto, 'HTTP/2.0');
});

test('WebSocket upgrade proxied both ways', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/ws`, { headers: { host: 'any.test' } });
  const got = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('ping'));
    ws.once('message', (d) => resolve(d.toString()));
    ws.once('error', reject);
  });
  assert.equal(got, 'b:ping');
  ws.close();
});

test('gRPC-style exchange: h2c through to an h2c backend with trailers; gateway errors as gRPC status', async () => {
  const s = http2.connect(`http://127.0.0.1:${httpPort}`);
  try {
    const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const st = s.request({ ':path': '/pkg.Svc/Method', ':method': 'POST', ':authority': 'any.test', 'content-type': 'application/grpc', te: 'trailers', 'x-echo-trailer': 'grpc-status:0' });
      st.on('trailers', resolve);
      st.on('error', reject);
      st.resume();
      st.end();
    });
    assert.equal(trailers['grpc-status'], '0');
    const r = await h2request(s, '/pkg.Svc/Broken', { host: 'other.test', method: 'POST', headers: { 'content-type': 'application/grpc' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['grpc-status'], '14', 'a rule without valid backends is UNAVAILABLE (GRPCRoute backendRefs doc)');
  } finally {
    s.close();
  }
});

test('frontend client certificate validation: AllowValidOnly refuses clients without a valid certificate', async () => {
  const mtlsPort = await freePort();
  const [server, client, stranger] = await Promise.all([
    makeCert(ca, { dns: ['mtls.example.org'] }),
    makeCert(ca, { cn: 'alice', client: true }),
    makeCert(await makeCA('Other CA'), { cn: 'mallory', client: true }),
  ]);
  const local = await createDataPlane({ workers: 0 });
  try {
    await local.apply(ir(1, [
      listener('mtls', mtlsPort, { '*': [route('mtls', match(), [to('a')])] }, {
        protocol: 'HTTPS',
        hostname: 'mtls.example.org',
        tls: { mode: 'Terminate', certificates: [certificate(server, 'mtls')], clientValidation: { caPem: ca.certPem, mode: 'AllowValidOnly' } },
      }),
    ], [backend('a', a)]));
    const get = (pair?: { certPem: string; keyPem: string }) => new Promise<number>((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: mtlsPort, servername: 'mtls.example.org', path: '/', headers: { host: 'mtls.example.org' },
        ca: ca.certPem, cert: pair?.certPem, key: pair?.keyPem, agent: false,
      }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
      req.on('error', reject);
      req.end();
    });
    assert.equal(await get(client), 200);
    await assert.rejects(get());
    await assert.rejects(get(stranger));
  } finally {
    await local.close();
  }
});

test('WebSocket over TLS (wss) on an HTTPS listener; "Upgrade: h2c" from HTTP/1.1 is declined, not proxied', async () => {
  const wsOptions = { headers: { host: 'example.org' }, ca: ca.certPem, servername: 'example.org' };
  const ws = new WebSocket(`wss://127.0.0.1:${httpsPort}/ws`, wsOptions);
  const got = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => ws.send('hi'));
    ws.once('message', (d) => resolve(d.toString()));
    ws.once('error', reject);
  });
  assert.equal(got, 'a:hi');
  ws.close();
  const r = await request(httpPort, '/', { host: 'any.test', headers: { connection: 'upgrade', upgrade: 'h2c' } });
  assert.equal(r.status, 200);
  assert.equal(r.json().proto, 'HTTP/1.1');
});

test('large responses stream through intact to HTTP/1.1 and HTTP/2 clients', async () => {
  const size = 8 << 20;
  const h1 = await request(httpPort, `/big?size=${size}`, { host: 'any.test' });
  assert.equal(h1.body.length, size);
  const s = http2.connect(`http://127.0.0.1:${httpPort}`);
  try {
    const h2 = await h2request(s, `/big?size=${size}`, { host: 'any.test' });
    assert.equal(h2.status, 200);
    assert.equal(h2.body.length, size);
    assert.ok(/^z+$/.test(h2.body));
  } finally {
    s.close();
  }
});

test('SNI on one HTTPS port with overlapping listeners: exact a.example.com, wildcard *.example.com, no hostname, each its own certificate', async () => {
  const port = await freePort();
  const [exactCert, wildCert, anyCert] = await Promise.all([
    makeCert(ca, { dns: ['a.example.com'], cn: 'exact listener' }),
    makeCert(ca, { dns: ['*.example.com'], cn: 'wildcard listener' }),
    makeCert(ca, { dns: ['fallback.test'], cn: 'listener without hostname' }),
  ]);
  const local = await createDataPlane({ workers: 0, debugHeaders: true });
  try {
    // Listed least specific first: the choice must not depend on the order.
    await local.apply(ir(1, [
      listener('any', port, { '*': [route('r-any', match(), [to('a')])] }, {
        protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [certificate(anyCert, 'any')] },
      }),
      listener('wild', port, { '*.example.com': [route('r-wild', match(), [to('a')])] }, {
        protocol: 'HTTPS', hostname: '*.example.com', tls: { mode: 'Terminate', certificates: [certificate(wildCert, 'wild')] },
      }),
      listener('exact', port, { 'a.example.com': [route('r-exact', match(), [to('a')])] }, {
        protocol: 'HTTPS', hostname: 'a.example.com', tls: { mode: 'Terminate', certificates: [certificate(exactCert, 'exact')] },
      }),
    ], [backend('a', a)]));
    /** The certificate the handshake presents for `servername` (none: no SNI), and the route that answers. */
    const handshake = (servername: string | undefined) => new Promise<{ cn: string; san: string; route: string }>((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port, path: '/', headers: { host: servername ?? 'fallback.test' }, ca: ca.certPem, agent: false,
        ...(servername !== undefined ? { servername } : {}),
        checkServerIdentity: () => undefined,
      }, (res) => {
        const cert = (res.socket as tls.TLSSocket).getPeerX509Certificate();
        res.resume();
        res.on('end', () => resolve({ cn: cert?.subject.match(/CN=([^\n]*)/)?.[1] ?? '', san: cert?.subjectAltName ?? '', route: String(res.headers['x-portico-route']) }));
      });
      req.on('error', reject);
      req.end();
    });
    const cases: [string, string, string, string][] = [
      ['a.example.com', 'exact listener', 'DNS:a.example.com', 'default/r-exact/0'],
      ['b.example.com', 'wildcard listener', 'DNS:*.example.com', 'default/r-wild/0'],
      ['deep.b.example.com', 'wildcard listener', 'DNS:*.example.com', 'default/r-wild/0'],
      ['A.Example.COM', 'exact listener', 'DNS:a.example.com', 'default/r-exact/0'],
      ['other.test', 'listener without hostname', 'DNS:fallback.test', 'default/r-any/0'],
      ['example.com', 'listener without hostname', 'DNS:fallback.test', 'default/r-any/0'],
    ];
    for (const [sni, cn, san, routeLabel] of cases) {
      const got = await handshake(sni);
      assert.deepEqual(got, { cn, san, route: routeLabel }, `SNI ${sni}`);
    }
  } finally {
    await local.close();
  }
});
