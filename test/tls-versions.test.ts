// Listener tls.options portico.dev/tls-min-version and portico.dev/tls-max-version end to end:
// manifests through translate() into the data plane, real TLS clients limited to or offering
// given versions. HTTPS listeners sharing a port each get their own range (the handshake is
// steered by SNI before the version is negotiated); TLS Terminate listeners too. Invalid values
// make the listener Accepted=False UnsupportedValue with a message naming the option and the
// values allowed, and the listener is not served.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { tcpEcho, type Closable } from './support/l4-net.ts';
import { localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';
import { brief, listenerCond, run } from './translate-helpers.ts';

let ca: CA;
let echo: EchoBackend;
let plain: Closable;
let dp: DataPlane;
let httpsPort: number;
let tlsPort: number;
let yaml: string;

const httpsListener = (name: string, options?: string) =>
  `  - {name: ${name}, port: HTTPS_PORT, protocol: HTTPS, hostname: ${name}.example.com, tls: {certificateRefs: [{name: cert}]${options ? `, options: ${options}` : ''}}}`;
const tlsListener = (name: string, options?: string) =>
  `  - {name: ${name}, port: TLS_PORT, protocol: TLS, hostname: ${name}.example.com, tls: {mode: Terminate, certificateRefs: [{name: cert}]${options ? `, options: ${options}` : ''}}}`;

function gateway(listeners: string[]): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: portico
  listeners:
${listeners.join('\n')}`;
}

before(async () => {
  ca = await makeCA();
  const cert = await makeCert(ca, { dns: ['*.example.com'] });
  echo = await startEcho('web');
  plain = await tcpEcho('T');
  [httpsPort, tlsPort] = await Promise.all([freePort(), freePort()]);
  yaml = [
    tlsSecretYaml('cert', cert),
    gateway([
      httpsListener('capped', '{portico.dev/tls-max-version: "1.2"}'),
      httpsListener('modern', '{portico.dev/tls-min-version: TLSv1.3}'),
      httpsListener('open'),
      httpsListener('invalid', '{portico.dev/tls-min-version: "1.1"}'),
      tlsListener('tcapped', '{portico.dev/tls-max-version: TLSv1.2}'),
      tlsListener('tmodern', '{portico.dev/tls-min-version: "1.3"}'),
      httpsListener('shared', '{portico.dev/tls-max-version: "1.2"}').replace('HTTPS_PORT', 'TLS_PORT'),
    ]).replaceAll('HTTPS_PORT', String(httpsPort)).replaceAll('TLS_PORT', String(tlsPort)),
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 80}]}]`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: raw, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: raw, port: 80}]}]`,
    localServiceYaml('web', 80, echo.port),
    localServiceYaml('raw', 80, plain.port),
  ].join('\n---\n');
  const result = run(yaml);
  for (const l of ['capped', 'modern', 'open', 'tcapped', 'tmodern', 'shared']) {
    assert.equal(brief(listenerCond(result, 'Gateway/default/gw', l, 'Accepted')), 'True/Accepted', l);
  }
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  assert.deepEqual((await dp.apply(result.ir)).bindErrors, {});
});

after(async () => {
  await dp?.close();
  await echo?.close();
  await plain?.close();
});

/** TLS handshake only: the negotiated version, or the error code. */
function handshake(port: number, servername: string, o: tls.ConnectionOptions = {}): Promise<{ version?: string; error?: string }> {
  return new Promise((resolve) => {
    const c = tls.connect({ host: '127.0.0.1', port, servername, ca: ca.certPem, ...o }, () => {
      const version = c.getProtocol() ?? undefined;
      c.end();
      resolve({ version });
    });
    c.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

/** An HTTPS request: status and the TLS version it went over (0 / undefined when refused). */
function get(servername: string, maxVersion?: tls.SecureVersion, port = httpsPort): Promise<{ status: number; version?: string }> {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, servername, headers: { host: servername }, ca: ca.certPem, agent: false, maxVersion }, (res) => {
      const version = (res.socket as tls.TLSSocket).getProtocol() ?? undefined;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, version }));
    });
    req.on('error', () => resolve({ status: 0 }));
    req.end();
  });
}

test('HTTPS: a listener with maximum 1.2 negotiates TLSv1.2 with a client offering 1.3; its neighbours on the port keep 1.3', async () => {
  assert.deepEqual(await get('capped.example.com'), { status: 200, version: 'TLSv1.2' });
  assert.equal((await handshake(httpsPort, 'capped.example.com', { ALPNProtocols: ['h2'] })).version, 'TLSv1.2', 'over h2 too');
  assert.deepEqual(await get('open.example.com'), { status: 200, version: 'TLSv1.3' });
  assert.deepEqual(await get('modern.example.com'), { status: 200, version: 'TLSv1.3' });
});

test('HTTPS: a listener with minimum 1.3 refuses a client limited to 1.2 in the handshake', async () => {
  const refused = await handshake(httpsPort, 'modern.example.com', { maxVersion: 'TLSv1.2' });
  assert.equal(refused.version, undefined);
  assert.match(refused.error ?? '', /ALERT|VERSION|PROTOCOL/i, refused.error);
  assert.equal((await get('modern.example.com', 'TLSv1.2')).status, 0);
  assert.deepEqual(await get('open.example.com', 'TLSv1.2'), { status: 200, version: 'TLSv1.2' });
});

test('TLS Terminate: maximum 1.2 caps a 1.3 client, minimum 1.3 refuses a 1.2 client', async () => {
  assert.equal((await handshake(tlsPort, 'tcapped.example.com')).version, 'TLSv1.2');
  assert.equal((await handshake(tlsPort, 'tmodern.example.com')).version, 'TLSv1.3');
  assert.equal((await handshake(tlsPort, 'tmodern.example.com', { maxVersion: 'TLSv1.2' })).version, undefined);
});

test('an HTTPS listener on a port shared with TLS listeners keeps its own range', async () => {
  assert.deepEqual(await get('shared.example.com', undefined, tlsPort), { status: 200, version: 'TLSv1.2' });
});

test('an invalid version value: Accepted=False UnsupportedValue naming the option and the allowed values; the listener is not served', async () => {
  const result = run(yaml);
  const c = listenerCond(result, 'Gateway/default/gw', 'invalid', 'Accepted');
  assert.equal(brief(c), 'False/UnsupportedValue');
  const message = (c as { message?: string } | undefined)?.message ?? '';
  assert.match(message, /portico\.dev\/tls-min-version/);
  assert.match(message, /"1\.1"/);
  assert.match(message, /TLSv1\.2 or TLSv1\.3/);
  assert.ok(!result.ir.gateways[0].listeners.some((l) => l.id.endsWith('/invalid')), 'not in the IR');
  assert.equal((await get('invalid.example.com')).status, 404, 'no listener answers for its hostname');
});

test('other invalid tls.options: maximum below minimum, an unknown portico.dev key, a non-string value, versions on Passthrough; never a crash', () => {
  const cases: [string, string, RegExp][] = [
    ['below', '{portico.dev/tls-min-version: TLSv1.3, portico.dev/tls-max-version: TLSv1.2}', /tls-max-version "TLSv1.2" is below portico.dev\/tls-min-version "TLSv1.3"/],
    ['typo', '{portico.dev/min-tls-version: "1.3"}', /"portico.dev\/min-tls-version" is not a Portico option; Portico understands portico.dev\/tls-min-version, portico.dev\/tls-max-version, portico.dev\/alpn/],
    ['number', '{portico.dev/tls-max-version: 1.2}', /must be a string/],
    ['alpn', '{portico.dev/alpn: "h2,,http/1.1"}', /portico.dev\/alpn/],
  ];
  const listeners = cases.map(([name, options]) => httpsListener(name, options).replace('HTTPS_PORT', '8443'));
  listeners.push('  - {name: pass, port: 9443, protocol: TLS, hostname: pass.example.com, tls: {mode: Passthrough, options: {portico.dev/tls-min-version: "1.3"}}}');
  listeners.push('  - {name: foreign, port: 8443, protocol: HTTPS, hostname: foreign.example.com, tls: {certificateRefs: [{name: cert}], options: {example.com/anything: "x"}}}');
  const result = run([yaml.split('\n---\n')[0], gateway(listeners)].join('\n---\n'));
  for (const [name, , message] of cases) {
    const c = listenerCond(result, 'Gateway/default/gw', name, 'Accepted') as { message?: string } | undefined;
    assert.equal(brief(c as never), 'False/UnsupportedValue', name);
    assert.match(c?.message ?? '', message, name);
  }
  assert.match((listenerCond(result, 'Gateway/default/gw', 'pass', 'Accepted') as { message?: string }).message ?? '', /Passthrough/);
  assert.equal(brief(listenerCond(result, 'Gateway/default/gw', 'foreign', 'Accepted')), 'True/Accepted', 'other domains\' keys are left alone');
});
