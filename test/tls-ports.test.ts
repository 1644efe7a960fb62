// HTTPS and TLS listeners sharing one port through the whole data plane (the l4 TLS server binds
// the port and hands HTTPS connections to the HTTPS server by SNI), ports moving between the two
// arrangements without EADDRINUSE, and the Gateway's backend client certificate reaching
// terminated TLSRoute connections after it changes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import type net from 'node:net';
import { createDataPlane } from '../src/dataplane/index.ts';
import type { IR, IRBackend, IRListener } from '../src/ir/types.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { backend, certificate, ir, listener, match, route, to } from './support/ir.ts';
import { backend as l4backend, l4route, listener as l4listener, tcpEcho, tlsEcho, tlsExchange, type Closable } from './support/l4-net.ts';
import { localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CA, type LeafCert } from './support/tls-certs.ts';
import { run } from './translate-helpers.ts';

let ca: CA;
let webCert: LeafCert;
let termCert: LeafCert;
let ptCert: LeafCert;
let echo: EchoBackend;
let pt: Closable;
let plain: Closable;
const cleanup: (() => Promise<unknown>)[] = [];


before(async () => {
  ca = await makeCA();
  [webCert, termCert, ptCert] = await Promise.all([
    makeCert(ca, { dns: ['web.example.com'] }),
    makeCert(ca, { dns: ['term.example.com'] }),
    makeCert(ca, { dns: ['pt.example.com'] }),
  ]);
  echo = await startEcho('web');
  pt = await tlsEcho('PT', ptCert);
  plain = await tcpEcho('T');
  cleanup.push(() => echo.close(), () => pt.close(), () => plain.close());
});

after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function httpsListener(port: number): IRListener {
  return listener('web', port, { 'web.example.com': [route('web', match(), [to('web')])] }, {
    protocol: 'HTTPS', hostname: 'web.example.com', tls: { mode: 'Terminate', certificates: [certificate(webCert, 'web')] },
  });
}

function tlsListeners(port: number): IRListener[] {
  return [
    l4listener('pt', 'TLS', port, [l4route('pt', [['pt', 1]], ['pt.example.com'])], { hostname: 'pt.example.com', tls: { mode: 'Passthrough', certificates: [] } }),
    l4listener('term', 'TLS', port, [l4route('term', [['t', 1]], ['term.example.com'])], { hostname: 'term.example.com', tls: { mode: 'Terminate', certificates: [certificate(termCert, 'term')] } }),
  ];
}

function model(generation: number, listeners: IRListener[]): IR {
  return ir(generation, listeners, [backend('web', echo), l4backend('pt', [pt.port]), l4backend('t', [plain.port])]);
}

function httpsGet(port: number, servername: string | undefined): Promise<{ status: number; body: string; cn?: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/x', headers: { host: 'web.example.com' }, ca: ca.certPem, agent: false,
      ...(servername ? { servername } : { checkServerIdentity: () => undefined }),
    }, (res) => {
      const cn = (res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN as string | undefined;
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body, cn }));
    });
    req.on('error', reject);
    req.end();
  });
}

function h2Get(port: number): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://127.0.0.1:${port}`, { servername: 'web.example.com', ca: ca.certPem });
    s.on('error', reject);
    const st = s.request({ ':path': '/h2', ':authority': 'web.example.com' });
    let status = 0;
    st.on('response', (h) => { status = Number(h[':status']); });
    st.resume();
    st.on('end', () => { s.close(); resolve({ status }); });
    st.on('error', reject);
    st.end();
  });
}

async function expectShared(port: number): Promise<void> {
  const web = await httpsGet(port, 'web.example.com');
  assert.equal(web.status, 200);
  assert.equal(web.cn, 'web.example.com');
  assert.equal((await httpsGet(port, undefined)).status, 200, 'no SNI: the HTTPS side answers');
  assert.equal((await h2Get(port)).status, 200, 'h2 by ALPN on the delegated connection');
  const passed = await tlsExchange(port, 'pt.example.com', 'hi', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(passed.cn, 'pt.example.com', 'passthrough: the backend\'s own certificate');
  assert.equal(passed.data, 'PT:hi');
  const term = await tlsExchange(port, 'term.example.com', 'yo', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(term.cn, 'term.example.com');
  assert.equal(term.data, 'T\nyo' + 'T:bytes=2\n');
}

test('HTTPS terminate, TLS passthrough and TLS terminate on one port, selected by SNI', async () => {
  const port = await freePort();
  const dp = await createDataPlane({ workers: 0 });
  try {
    const r = await dp.apply(model(1, [httpsListener(port), ...tlsListeners(port)]));
    assert.deepEqual(r.bindErrors, {});
    await expectShared(port);
  } finally {
    await dp.close();
  }
});

test('a port moves between HTTPS only, HTTPS + TLS, TLS only and back without bind errors', async () => {
  const port = await freePort();
  const dp = await createDataPlane({ workers: 0 });
  try {
    let gen = 0;
    const step = async (listeners: IRListener[]) => {
      const r = await dp.apply(model(++gen, listeners));
      assert.deepEqual(r.bindErrors, {}, `generation ${gen}`);
    };
    await step([httpsListener(port)]);
    assert.equal((await httpsGet(port, 'web.example.com')).status, 200);
    await step([httpsListener(port), ...tlsListeners(port)]);
    await expectShared(port);
    await step([httpsListener(port)]);
    assert.equal((await httpsGet(port, 'web.example.com')).status, 200);
    assert.notEqual((await tlsExchange(port, 'pt.example.com', 'hi')).data, 'PT:hi', 'the TLS listener is gone');
    await step(tlsListeners(port));
    assert.equal((await tlsExchange(port, 'pt.example.com', 'hi')).data, 'PT:hi');
    await step([httpsListener(port), ...tlsListeners(port)]);
    await expectShared(port);
  } finally {
    await dp.close();
  }
});

test('terminated TLSRoute re-encrypting to a backend: a changed Gateway client certificate is presented on new connections', async () => {
  const backendCert = await makeCert(ca, { dns: ['secure.backend'] });
  const [one, two] = await Promise.all([makeCert(ca, { cn: 'gw-one', client: true }), makeCert(ca, { cn: 'gw-two', client: true })]);
  // A TLS backend asking for client certificates, answering with the CN it saw.
  const srv = tls.createServer({ cert: backendCert.certPem, key: backendCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (s) => {
    s.on('error', () => {});
    s.end(`cn=${String(s.getPeerCertificate().subject?.CN)}\n`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => srv.close(r)));
  const srvPort = (srv.address() as net.AddressInfo).port;
  const port = await freePort();
  const dp = await createDataPlane({ workers: 0 });
  const secure: IRBackend = l4backend('sec', [srvPort], { tls: { sni: 'secure.backend', caPem: ca.certPem, source: { kind: 'BackendTLSPolicy', namespace: 'default', name: 'p' } } });
  const build = (generation: number, client: LeafCert): IR => {
    const m = ir(generation, [
      l4listener('term', 'TLS', port, [l4route('term', [['sec', 1]], ['term.example.com'])], { hostname: 'term.example.com', tls: { mode: 'Terminate', certificates: [certificate(termCert, 'term')] } }),
    ], [secure]);
    m.gateways[0].backendClientCertificate = certificate(client, 'gw-client');
    return m;
  };
  try {
    await dp.apply(build(1, one));
    assert.equal((await tlsExchange(port, 'term.example.com', '', { ca: ca.certPem, rejectUnauthorized: true })).data, 'cn=gw-one\n');
    await dp.apply(build(2, two));
    assert.equal((await tlsExchange(port, 'term.example.com', '', { ca: ca.certPem, rejectUnauthorized: true })).data, 'cn=gw-two\n');
  } finally {
    await dp.close();
  }
});

test('the shared HTTPS + TLS port works the same with worker processes', async () => {
  const port = await freePort();
  const dp = await createDataPlane({ workers: 2 });
  try {
    const r = await dp.apply(model(1, [httpsListener(port), ...tlsListeners(port)]));
    assert.deepEqual(r.bindErrors, {});
    for (let i = 0; i < 3; i++) await expectShared(port);
  } finally {
    await dp.close();
  }
});

test('through translate(): an HTTPS and a TLS Terminate listener of one Gateway on one port', async () => {
  const port = await freePort();
  const svc = (name: string, target: number) => localServiceYaml(name, 80, target);
  const result = run([
    tlsSecretYaml('web', webCert),
    tlsSecretYaml('term', termCert),
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: portico
  listeners:
  - {name: web, port: ${port}, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web}]}}
  - {name: term, port: ${port}, protocol: TLS, hostname: term.example.com, tls: {mode: Terminate, certificateRefs: [{name: term}]}}`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: web}]
  rules: [{backendRefs: [{name: web, port: 80}]}]`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: term, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: term}]
  hostnames: [term.example.com]
  rules: [{backendRefs: [{name: tcp, port: 80}]}]`,
    svc('web', echo.port),
    svc('tcp', plain.port),
  ].join('\n---\n'));
  const dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  try {
    const r = await dp.apply(result.ir);
    assert.deepEqual(r.bindErrors, {});
    assert.equal((await httpsGet(port, 'web.example.com')).status, 200);
    assert.equal((await h2Get(port)).status, 200);
    const term = await tlsExchange(port, 'term.example.com', 'yo', { ca: ca.certPem, rejectUnauthorized: true });
    assert.equal(term.data, 'T\nyo' + 'T:bytes=2\n');
  } finally {
    await dp.close();
  }
});
