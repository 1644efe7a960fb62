// TLS listeners in Mixed mode (feature TLSRouteModeMixed, GEP-2643): Passthrough and terminating
// listeners of one Gateway on one port, from YAML through translate() to the data plane with real
// TLS. The client must see Portico's certificate for a Terminate listener's hostname (plaintext
// reaches the backend) and the backend's own certificate for a Passthrough listener's hostname;
// SNIs no listener owns are refused. Also the conflict rule itself, with and without the claim.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type tls from 'node:tls';
import { FEATURES, PORTICO_SUPPORTED_FEATURES } from '../src/api/features.ts';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { conflictBetween, MIXED_TLS_MODES, resolveConflicts } from '../src/translate/conflicts.ts';
import type { ListenerState } from '../src/translate/state.ts';
import type { TranslateResult } from '../src/translate/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { tcpEcho, tlsEcho, tlsExchange, type Closable } from './support/l4-net.ts';
import { localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CA, type LeafCert } from './support/tls-certs.ts';
import { brief, listenerCond, listenerStatus, run } from './translate-helpers.ts';

let ca: CA;
let termCert: LeafCert; // Portico's, for the Terminate listeners
let webCert: LeafCert; // Portico's, for the HTTPS listener
let backendCert: LeafCert; // the passthrough backend's own
let plain: Closable;
let secure: Closable;
let web: EchoBackend;
let ports: { mixed: number; wild: number; https: number; webwild: number };
let result: TranslateResult;
let dp: DataPlane;

const GW = 'Gateway/default/gw';

before(async () => {
  ca = await makeCA();
  [termCert, webCert, backendCert] = await Promise.all([
    makeCert(ca, { dns: ['term.example.com', 'a.example.org'] }),
    makeCert(ca, { dns: ['web.example.com', '*.example.net'] }),
    makeCert(ca, { dns: ['pt.example.com', '*.example.org'], cn: 'the-backend' }),
  ]);
  plain = await tcpEcho('T');
  secure = await tlsEcho('PT', backendCert);
  web = await startEcho('web');
  ports = { mixed: await freePort(), wild: await freePort(), https: await freePort(), webwild: await freePort() };
  const route = (name: string, section: string, hostname: string, svc: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: ${section}}]
  hostnames: ["${hostname}"]
  rules: [{backendRefs: [{name: ${svc}, port: 80}]}]`;
  result = run([
    tlsSecretYaml('term', termCert),
    tlsSecretYaml('web', webCert),
    // mixed: the upstream scenario. wild: a Passthrough wildcard around a Terminate exact name.
    // https: an HTTPS listener next to a Passthrough one.
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: portico
  listeners:
  - {name: term, port: ${ports.mixed}, protocol: TLS, hostname: term.example.com, tls: {mode: Terminate, certificateRefs: [{name: term}]}}
  - {name: pt, port: ${ports.mixed}, protocol: TLS, hostname: pt.example.com, tls: {mode: Passthrough}}
  - {name: pt-wild, port: ${ports.wild}, protocol: TLS, hostname: "*.example.org", tls: {mode: Passthrough}}
  - {name: term-exact, port: ${ports.wild}, protocol: TLS, hostname: a.example.org, tls: {mode: Terminate, certificateRefs: [{name: term}]}}
  - {name: web, port: ${ports.https}, protocol: HTTPS, hostname: web.example.com, tls: {certificateRefs: [{name: web}]}}
  - {name: pt-web, port: ${ports.https}, protocol: TLS, hostname: pt.example.com, tls: {mode: Passthrough}}
  - {name: web-wild, port: ${ports.webwild}, protocol: HTTPS, hostname: "*.example.net", tls: {certificateRefs: [{name: web}]}}
  - {name: pt-net, port: ${ports.webwild}, protocol: TLS, hostname: pt.example.net, tls: {mode: Passthrough}}`,
    route('term', 'term', 'term.example.com', 'plain'),
    route('pt', 'pt', 'pt.example.com', 'secure'),
    route('pt-wild', 'pt-wild', '*.example.org', 'secure'),
    route('term-exact', 'term-exact', 'a.example.org', 'plain'),
    route('pt-web', 'pt-web', 'pt.example.com', 'secure'),
    route('pt-net', 'pt-net', 'pt.example.net', 'secure'),
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: web}, {name: gw, sectionName: web-wild}]
  rules: [{backendRefs: [{name: web, port: 80}]}]`,
    localServiceYaml('plain', 80, plain.port),
    localServiceYaml('secure', 80, secure.port),
    localServiceYaml('web', 80, web.port),
  ].join('\n---\n'));
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  const applied = await dp.apply(result.ir);
  assert.deepEqual(applied.bindErrors, {});
});

after(async () => {
  await dp?.close();
  await Promise.all([plain?.close(), secure?.close(), web?.close()]);
});

const trusting = (): tls.ConnectionOptions => ({ ca: ca.certPem, rejectUnauthorized: true });

test('Portico claims TLSRouteModeMixed, and the claim is what lets the modes share a port', () => {
  assert.ok(PORTICO_SUPPORTED_FEATURES.includes(FEATURES.TLSRouteModeMixed));
  assert.equal(MIXED_TLS_MODES, true);
});

test('status: every listener of the mixed ports is Accepted with its route attached', () => {
  for (const l of ['term', 'pt', 'pt-wild', 'term-exact', 'web', 'pt-web']) {
    assert.equal(brief(listenerCond(result, GW, l, 'Accepted')), 'True/Accepted', l);
    assert.equal(brief(listenerCond(result, GW, l, 'Conflicted')), 'False/NoConflicts', l);
    assert.equal(brief(listenerCond(result, GW, l, 'Programmed')), 'True/Programmed', l);
    assert.equal(listenerStatus(result, GW, l)?.attachedRoutes, 1, l);
  }
  // Overlapping hostnames across modes are reported (Portico's certificate may be reused for them).
  assert.equal(brief(listenerCond(result, GW, 'pt-wild', 'OverlappingTLSConfig')), 'True/OverlappingHostnames');
  assert.equal(brief(listenerCond(result, GW, 'term-exact', 'OverlappingTLSConfig')), 'True/OverlappingHostnames');
  assert.equal(listenerCond(result, GW, 'pt', 'OverlappingTLSConfig'), undefined);
});

test('one port: Terminate hostname gets Portico\'s certificate and plaintext reaches the backend', async () => {
  const r = await tlsExchange(ports.mixed, 'term.example.com', 'yo', trusting());
  assert.equal(r.error, undefined);
  assert.equal(r.cn, 'term.example.com', 'the certificate of the listener, served by Portico');
  // tcpEcho greets with "T\n", echoes, and on FIN reports the byte count: it saw plaintext.
  assert.equal(r.data, 'T\nyoT:bytes=2\n');
});

test('one port: Passthrough hostname gets the backend\'s own certificate end to end', async () => {
  const r = await tlsExchange(ports.mixed, 'pt.example.com', 'hi', trusting());
  assert.equal(r.error, undefined);
  assert.equal(r.cn, 'the-backend');
  assert.equal(r.data, 'PT:hi');
});

test('one port: an SNI no listener owns, or no SNI, is refused', async () => {
  const unknown = await tlsExchange(ports.mixed, 'other.example.com', 'x', trusting());
  assert.equal(unknown.cn, undefined, 'no handshake completed');
  assert.equal(unknown.data, '');
  assert.ok(unknown.error, 'the connection failed');
  const none = await tlsExchange(ports.mixed, undefined, 'x', { rejectUnauthorized: false });
  assert.equal(none.cn, undefined);
  assert.equal(none.data, '');
});

test('overlapping hostnames: the most specific listener decides the mode per connection', async () => {
  const exact = await tlsExchange(ports.wild, 'a.example.org', 'z', trusting());
  assert.equal(exact.cn, 'term.example.com', 'a.example.org: the Terminate listener, Portico\'s certificate');
  assert.equal(exact.data, 'T\nzT:bytes=1\n');
  const other = await tlsExchange(ports.wild, 'b.example.org', 'z', trusting());
  assert.equal(other.cn, 'the-backend', 'b.example.org: the Passthrough wildcard');
  assert.equal(other.data, 'PT:z');
});

test('HTTPS and TLS Passthrough on one port: HTTP for one name, the raw stream for the other', async () => {
  const res = await new Promise<{ status: number; cn?: string }>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: ports.https, path: '/x', servername: 'web.example.com', headers: { host: 'web.example.com' }, ca: ca.certPem, agent: false }, (r) => {
      const cn = (r.socket as tls.TLSSocket).getPeerCertificate().subject?.CN as string | undefined;
      r.resume().on('end', () => resolve({ status: r.statusCode ?? 0, cn }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.deepEqual(res, { status: 200, cn: 'web.example.com' });
  const pt = await tlsExchange(ports.https, 'pt.example.com', 'hi', trusting());
  assert.equal(pt.cn, 'the-backend');
  assert.equal(pt.data, 'PT:hi');
});

test('HTTPS wildcard next to a Passthrough name: a request for that name on an HTTPS connection is misdirected (421)', async () => {
  const get = (host: string) => new Promise<number>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: ports.webwild, path: '/x', servername: 'www.example.net', headers: { host }, ca: ca.certPem, agent: false }, (r) => {
      r.resume().on('end', () => resolve(r.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(await get('www.example.net'), 200, 'the wildcard serves its own names');
  // pt.example.net is the Passthrough listener's: a client that reuses the connection it opened
  // for www.example.net must be told to connect again, not be served by the wildcard.
  assert.equal(await get('pt.example.net'), 421);
  const pt = await tlsExchange(ports.webwild, 'pt.example.net', 'hi', { ...trusting(), servername: 'pt.example.net', checkServerIdentity: () => undefined });
  assert.equal(pt.cn, 'the-backend', 'the name itself still reaches the Passthrough backend');
});

// The rule without the claim (GEP-2643: ProtocolConflict) and with it; hostnames still decide.
function ls(name: string, protocol: string, tlsMode?: 'Terminate' | 'Passthrough', hostname?: string): ListenerState {
  return { name, protocol, tlsMode, hostname, port: 443, ownerKind: 'Gateway' } as ListenerState;
}

test('conflictBetween: Passthrough next to terminating listeners needs Mixed', () => {
  const pt = ls('pt', 'TLS', 'Passthrough', 'pt.example.com');
  const term = ls('term', 'TLS', 'Terminate', 'term.example.com');
  const web = ls('web', 'HTTPS', 'Terminate', 'web.example.com');
  assert.equal(conflictBetween(pt, term, false), 'ProtocolConflict');
  assert.equal(conflictBetween(pt, web, false), 'ProtocolConflict');
  assert.equal(conflictBetween(term, web, false), undefined);
  assert.equal(conflictBetween(pt, term, true), undefined);
  assert.equal(conflictBetween(pt, web, true), undefined);
  assert.equal(conflictBetween(pt, ls('t2', 'TLS', 'Terminate', 'pt.example.com'), true), 'HostnameConflict');
  assert.equal(conflictBetween(ls('a', 'TLS', 'Passthrough'), ls('b', 'TLS', 'Terminate'), true), 'HostnameConflict');
  assert.equal(conflictBetween(pt, ls('h', 'HTTP', undefined, 'h.example.com'), true), 'ProtocolConflict');
  assert.equal(conflictBetween(pt, ls('tcp', 'TCP'), true), 'ProtocolConflict');
});

test('resolveConflicts without Mixed: both listeners of the pair are Conflicted with ProtocolConflict', () => {
  const pt = ls('pt', 'TLS', 'Passthrough', 'passthrough.example.com');
  const term = ls('term', 'TLS', 'Terminate', 'terminate.example.com');
  resolveConflicts([[term, pt]], false);
  assert.equal(pt.conflicted?.reason, 'ProtocolConflict');
  assert.equal(term.conflicted?.reason, 'ProtocolConflict');
  const pt2 = ls('pt', 'TLS', 'Passthrough', 'passthrough.example.com');
  const term2 = ls('term', 'TLS', 'Terminate', 'terminate.example.com');
  resolveConflicts([[term2, pt2]], true);
  assert.equal(pt2.conflicted, undefined);
  assert.equal(term2.conflicted, undefined);
});
