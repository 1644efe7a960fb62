// BackendTLSPolicy end to end: manifests through translate() into the data plane, real TLS
// backends that ask for client certificates. Valid CA, wrong CA, Hostname and URI subjectAltNames
// (match and mismatch), wellKnownCACertificates System refusing a private CA, and the Gateway's
// spec.tls.backend.clientCertificateRef seen by the backend, for HTTPRoute, GRPCRoute,
// TLSRoute (Terminate) backends and a RequestMirror backend.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import type net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { startGrpcEcho, TestClient, unary, type GrpcEcho } from './support/grpc-echo.ts';
import { tlsExchange } from './support/l4-net.ts';
import { caConfigMapYaml, localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CA, type LeafCert } from './support/tls-certs.ts';
import { cond, run, statusOf } from './translate-helpers.ts';

const SPIFFE = 'spiffe://cluster.local/ns/default/sa/backend';
let ca: CA;
let other: CA;
let termCert: LeafCert;
let gwClient: LeafCert;
let httpsBackend: https.Server;
let httpsPort: number;
let tlsBackend: tls.Server;
let tlsPort: number;
let grpcTls: GrpcEcho;
let plain: EchoBackend;
const seen: { path: string; sni: string; client: string | null }[] = [];
let dp: DataPlane;
let httpPort: number;
let tlsListenerPort: number;
let grpcClient: grpc.Client;

/** Services (port 443 → `target`) with one ready endpoint on 127.0.0.1. */
const service = (name: string, target: number, appProtocol?: string) => localServiceYaml(name, 443, target, { appProtocol });

function policy(name: string, validation: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: ${name}, namespace: default}
spec:
  targetRefs: [{group: "", kind: Service, name: ${name}}]
  validation: ${validation}`;
}

before(async () => {
  ca = await makeCA();
  other = await makeCA('Other CA');
  let backendCert: LeafCert;
  [backendCert, termCert, gwClient] = await Promise.all([
    makeCert(ca, { dns: ['backend.example'], uris: [SPIFFE] }),
    makeCert(ca, { dns: ['term.example.com'] }),
    makeCert(ca, { cn: 'gateway', client: true }),
  ]);
  const clientOf = (s: tls.TLSSocket) => (s.authorized ? String(s.getPeerCertificate().subject.CN) : null);
  httpsBackend = https.createServer({ cert: backendCert.certPem, key: backendCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as tls.TLSSocket;
    const entry = { path: req.url ?? '', sni: String(sock.servername), client: clientOf(sock) };
    seen.push(entry);
    req.resume();
    req.on('end', () => res.end(JSON.stringify(entry)));
  });
  tlsBackend = tls.createServer({ cert: backendCert.certPem, key: backendCert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (s) => {
    s.on('error', () => {});
    s.end(`tls sni=${String(s.servername)} client=${clientOf(s)}\n`);
  });
  await Promise.all([httpsBackend, tlsBackend].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))));
  httpsPort = (httpsBackend.address() as net.AddressInfo).port;
  tlsPort = (tlsBackend.address() as net.AddressInfo).port;
  grpcTls = await startGrpcEcho('grpc-tls', { certPem: backendCert.certPem, keyPem: backendCert.keyPem, caPem: ca.certPem });
  plain = await startEcho('plain');
  [httpPort, tlsListenerPort] = await Promise.all([freePort(), freePort()]);

  const hrefs = ['good', 'wrong-ca', 'san-dns-ok', 'san-dns-bad', 'san-uri-ok', 'san-uri-bad', 'system', 'mirror-target'];
  const yaml = [
    caConfigMapYaml('ca', ca.certPem),
    caConfigMapYaml('other-ca', other.certPem),
    tlsSecretYaml('gw-client', gwClient),
    tlsSecretYaml('term-cert', termCert),
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: portico
  tls: {backend: {clientCertificateRef: {kind: Secret, name: gw-client}}}
  listeners:
  - {name: http, port: ${httpPort}, protocol: HTTP}
  - {name: tls, port: ${tlsListenerPort}, protocol: TLS, hostname: term.example.com, tls: {mode: Terminate, certificateRefs: [{name: term-cert}]}}`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [web.test]
  rules:
${hrefs.filter((h) => h !== 'mirror-target').map((h) => `  - matches: [{path: {type: PathPrefix, value: /${h}}}]
    backendRefs: [{name: ${h}, port: 443}]`).join('\n')}
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: mirror-target, port: 443}}}]
    backendRefs: [{name: plain, port: 443}]`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [grpc.test]
  rules: [{backendRefs: [{name: secure-grpc, port: 443}]}]`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc-untrusted, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [grpc-untrusted.test]
  rules: [{backendRefs: [{name: untrusted-grpc, port: 443}]}]`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: term, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: tls}]
  hostnames: [term.example.com]
  rules: [{backendRefs: [{name: secure-tcp, port: 443}]}]`,
    ...hrefs.map((h) => service(h, httpsPort)),
    service('plain', plain.port),
    service('secure-grpc', grpcTls.port),
    service('untrusted-grpc', grpcTls.port),
    service('secure-tcp', tlsPort),
    policy('good', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example}'),
    policy('mirror-target', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example}'),
    policy('wrong-ca', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: other-ca}], hostname: backend.example}'),
    policy('san-dns-ok', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: sni.example, subjectAltNames: [{type: Hostname, hostname: nope.example}, {type: Hostname, hostname: backend.example}]}'),
    policy('san-dns-bad', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example, subjectAltNames: [{type: Hostname, hostname: nope.example}]}'),
    policy('san-uri-ok', `{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: sni.example, subjectAltNames: [{type: URI, uri: "${SPIFFE}"}]}`),
    policy('san-uri-bad', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example, subjectAltNames: [{type: URI, uri: "spiffe://cluster.local/ns/default/sa/other"}]}'),
    policy('system', '{wellKnownCACertificates: System, hostname: backend.example}'),
    policy('secure-grpc', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example}'),
    policy('untrusted-grpc', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: other-ca}], hostname: backend.example}'),
    policy('secure-tcp', '{caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example}'),
  ].join('\n---\n');
  const result = run(yaml);
  for (const key of ['HTTPRoute/default/web', 'GRPCRoute/default/grpc', 'TLSRoute/default/term']) {
    const parents = (statusOf(result, key)?.parents ?? []) as { conditions: unknown }[];
    assert.equal(cond(parents[0]?.conditions, 'Accepted')?.status, 'True', `${key} Accepted`);
  }
  for (const name of ['good', 'wrong-ca', 'san-uri-ok', 'system', 'secure-grpc', 'secure-tcp']) {
    const ancestors = (statusOf(result, `BackendTLSPolicy/default/${name}`)?.ancestors ?? []) as { conditions: unknown }[];
    assert.equal(cond(ancestors[0]?.conditions, 'Accepted')?.status, 'True', `policy ${name} Accepted`);
  }
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  const applied = await dp.apply(result.ir);
  assert.deepEqual(applied.bindErrors, {});
  grpcClient = new TestClient(`127.0.0.1:${httpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpc.test' });
});

after(async () => {
  grpcClient?.close();
  await dp?.close();
  httpsBackend?.close();
  tlsBackend?.close();
  await grpcTls?.close();
  await plain?.close();
});

test('HTTPRoute to a BackendTLSPolicy backend: SNI from the policy, verified by its CA, Gateway client certificate presented', async () => {
  const r = await request(httpPort, '/good', { host: 'web.test' });
  assert.equal(r.status, 200, r.body);
  assert.deepEqual(JSON.parse(r.body), { path: '/good', sni: 'backend.example', client: 'gateway' });
});

test('a CA that did not sign the backend certificate: 5xx, and the backend never sees the request', async () => {
  const before = seen.length;
  const r = await request(httpPort, '/wrong-ca', { host: 'web.test' });
  assert.ok(r.status >= 500, String(r.status));
  assert.equal(seen.length, before);
});

test('subjectAltNames replace the hostname check: a Hostname or URI SAN in the certificate passes, others fail', async () => {
  const ok = await request(httpPort, '/san-dns-ok', { host: 'web.test' });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(JSON.parse(ok.body).sni, 'sni.example', 'the SNI is still validation.hostname');
  assert.equal((await request(httpPort, '/san-uri-ok', { host: 'web.test' })).status, 200);
  assert.ok((await request(httpPort, '/san-dns-bad', { host: 'web.test' })).status >= 500);
  assert.ok((await request(httpPort, '/san-uri-bad', { host: 'web.test' })).status >= 500);
});

test('wellKnownCACertificates System does not trust a private CA', async () => {
  assert.ok((await request(httpPort, '/system', { host: 'web.test' })).status >= 500);
});

test('GRPCRoute to a BackendTLSPolicy backend: gRPC over TLS (h2 by ALPN) with the Gateway client certificate', async () => {
  const r = await unary(grpcClient, 'Unary', {});
  assert.equal(r.error, undefined, r.error?.message);
  assert.equal(r.reply.name, 'grpc-tls');
  assert.equal(r.reply.clientCN, 'gateway');
});

test('GRPCRoute to a backend its BackendTLSPolicy does not trust: UNAVAILABLE', async () => {
  const c = new TestClient(`127.0.0.1:${httpPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpc-untrusted.test' });
  try {
    assert.equal((await unary(c, 'Unary', {})).error?.code, grpc.status.UNAVAILABLE);
  } finally {
    c.close();
  }
});

test('TLSRoute (Terminate) to a BackendTLSPolicy backend: re-encrypted with the Gateway client certificate', async () => {
  const r = await tlsExchange(tlsListenerPort, 'term.example.com', '', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(r.data, 'tls sni=backend.example client=gateway\n');
});

test('a RequestMirror backend with a BackendTLSPolicy gets its copy over verified TLS with the client certificate', async () => {
  const r = await request(httpPort, '/mirrored/x', { host: 'web.test' });
  assert.equal(r.status, 200);
  assert.equal(r.json().name, 'plain');
  let copy: (typeof seen)[number] | undefined;
  for (let i = 0; i < 100 && copy === undefined; i++) {
    copy = seen.find((s) => s.path === '/mirrored/x');
    if (copy === undefined) await new Promise((res) => setTimeout(res, 20));
  }
  assert.deepEqual(copy, { path: '/mirrored/x', sni: 'backend.example', client: 'gateway' });
});
