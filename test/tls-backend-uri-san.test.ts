// BackendTLSPolicy validation.subjectAltNames of type URI (a SPIFFE id) for TLSRoutes on a TLS
// Terminate listener, end to end: manifests through translate() into the data plane, backends
// with real openssl-made certificates. The re-encrypted connection goes through only when the
// backend certificate carries the URI; otherwise the client's connection is closed and the backend
// never sees a byte of plaintext. (HTTPRoute backends with URI SANs: test/tls-backend.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type net from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { freePort } from './support/client.ts';
import { tlsExchange } from './support/l4-net.ts';
import { caConfigMapYaml, localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';
import { cond, run, statusOf } from './translate-helpers.ts';
import { altNames } from '../src/dataplane/upstream/identity.ts';

const SPIFFE = 'spiffe://cluster.local/ns/default/sa/backend';
/** Node writes this one quoted and escaped in subjectaltname (a comma is "\u002c"). */
const SPIFFE_COMMA = 'spiffe://cluster.local/ns/default/sa/a,b';
let ca: CA;
let dp: DataPlane;
let listenerPort: number;
const servers: tls.Server[] = [];
/** Payloads each backend received, by backend name. */
const received: Record<string, string[]> = {};

/** A TLS backend that answers `<name>:<what the client sent>` and closes. */
async function tlsBackend(name: string, cert: { certPem: string; keyPem: string }): Promise<number> {
  received[name] = [];
  const srv = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => {
    let data = '';
    s.on('error', () => {});
    s.on('data', (d) => (data += d));
    s.on('end', () => {
      received[name].push(data);
      s.end(`${name}:${data}`);
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as net.AddressInfo).port;
}

function policy(service: string, sans: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: ${service}, namespace: default}
spec:
  targetRefs: [{group: "", kind: Service, name: ${service}}]
  validation: {caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}], hostname: backend.example, subjectAltNames: ${sans}}`;
}

function tlsRoute(name: string, service: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [${name}.term.example]
  rules: [{backendRefs: [{name: ${service}, port: 443}]}]`;
}

before(async () => {
  ca = await makeCA();
  const [spiffeCert, dnsOnlyCert, commaCert, termCert] = await Promise.all([
    makeCert(ca, { dns: ['backend.example'], uris: [SPIFFE] }),
    makeCert(ca, { dns: ['backend.example'] }),
    makeCert(ca, { dns: ['backend.example'], uris: [SPIFFE_COMMA], sanSection: true }),
    makeCert(ca, { dns: ['*.term.example'] }),
  ]);
  const [spiffePort, dnsOnlyPort, commaPort] = await Promise.all([
    tlsBackend('spiffe', spiffeCert), tlsBackend('dns-only', dnsOnlyCert), tlsBackend('comma', commaCert),
  ]);
  listenerPort = await freePort();
  // uri-ok: the backend's SPIFFE id. uri-any: one of two URIs (the second matches). uri-bad: another
  // service account. uri-none: the right URI, but the backend certificate has only DNS names
  // (even though the hostname check alone would pass).
  const yaml = [
    caConfigMapYaml('ca', ca.certPem),
    tlsSecretYaml('term-cert', termCert),
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: portico
  listeners:
  - {name: tls, port: ${listenerPort}, protocol: TLS, hostname: "*.term.example", tls: {mode: Terminate, certificateRefs: [{name: term-cert}]}}`,
    tlsRoute('ok', 'uri-ok'),
    tlsRoute('any', 'uri-any'),
    tlsRoute('bad', 'uri-bad'),
    tlsRoute('none', 'uri-none'),
    tlsRoute('comma', 'uri-comma'),
    localServiceYaml('uri-ok', 443, spiffePort),
    localServiceYaml('uri-any', 443, spiffePort),
    localServiceYaml('uri-bad', 443, spiffePort),
    localServiceYaml('uri-none', 443, dnsOnlyPort),
    localServiceYaml('uri-comma', 443, commaPort),
    policy('uri-ok', `[{type: URI, uri: "${SPIFFE}"}]`),
    policy('uri-any', `[{type: URI, uri: "spiffe://cluster.local/ns/default/sa/other"}, {type: URI, uri: "${SPIFFE}"}]`),
    policy('uri-bad', '[{type: URI, uri: "spiffe://cluster.local/ns/default/sa/other"}]'),
    policy('uri-none', `[{type: URI, uri: "${SPIFFE}"}]`),
    policy('uri-comma', `[{type: URI, uri: "${SPIFFE_COMMA}"}]`),
  ].join('\n---\n');
  const result = run(yaml);
  for (const name of ['ok', 'any', 'bad', 'none', 'comma']) {
    const parents = (statusOf(result, `TLSRoute/default/${name}`)?.parents ?? []) as { conditions: unknown }[];
    assert.equal(cond(parents[0]?.conditions, 'Accepted')?.status, 'True', `TLSRoute ${name} Accepted`);
    const ancestors = (statusOf(result, `BackendTLSPolicy/default/uri-${name}`)?.ancestors ?? []) as { conditions: unknown }[];
    assert.equal(cond(ancestors[0]?.conditions, 'Accepted')?.status, 'True', `policy uri-${name} Accepted`);
  }
  const backendTls = result.ir.backends[Object.keys(result.ir.backends).find((k) => k.includes('uri-ok'))!]?.tls;
  assert.deepEqual(backendTls?.subjectAltNames, [{ type: 'URI', uri: SPIFFE }], 'the URI SAN reaches the IR');
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  assert.deepEqual((await dp.apply(result.ir)).bindErrors, {});
});

after(async () => {
  await dp?.close();
  for (const s of servers) s.close();
});

const exchange = (host: string, payload: string) =>
  tlsExchange(listenerPort, `${host}.term.example`, payload, { ca: ca.certPem, rejectUnauthorized: true });

test('TLSRoute (Terminate): a backend certificate carrying the policy\'s URI SAN gets the traffic', async () => {
  const r = await exchange('ok', 'hello');
  assert.equal(r.error, undefined);
  assert.equal(r.data, 'spiffe:hello');
  const any = await exchange('any', 'again');
  assert.equal(any.data, 'spiffe:again', 'any one of the listed URIs is enough');
});

test('TLSRoute (Terminate): a URI SAN the backend certificate does not carry closes the connection; the backend sees nothing', async () => {
  const bad = await exchange('bad', 'secret-1');
  assert.equal(bad.data, '', 'nothing comes back');
  const none = await exchange('none', 'secret-2');
  assert.equal(none.data, '', 'a certificate with DNS names only does not satisfy a URI SAN');
  assert.ok(!received.spiffe.includes('secret-1'), 'the wrong-identity backend never got the plaintext');
  assert.ok(!received['dns-only'].includes('secret-2'), 'the DNS-only backend never got the plaintext');
});

test('a URI with a comma (quoted and escaped by Node in subjectaltname) still matches exactly', async () => {
  assert.equal((await exchange('comma', 'c')).data, 'comma:c');
  assert.deepEqual(
    altNames('URI:"spiffe://x/a\\u002cb", URI:spiffe://x/plain, DNS:a.example, URI:"spiffe://x/q\\"t"', 'URI'),
    ['spiffe://x/a,b', 'spiffe://x/plain', 'spiffe://x/q"t'],
  );
  assert.deepEqual(altNames(undefined, 'URI'), []);
  assert.deepEqual(altNames('DNS:a.example', 'URI'), []);
});
