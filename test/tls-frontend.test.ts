// Frontend client-certificate validation end to end, through translate() and the data plane: the
// scenarios of the upstream GatewayFrontendClientCertificateValidation and
// GatewayFrontendClientCertificateValidationInsecureFallback conformance tests (spec.tls.frontend
// default plus a perPort override) with our own manifests, and a TLS-terminating TLSRoute
// listener validating client certificates the same way.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { tcpEcho, tlsExchange, type Closable } from './support/l4-net.ts';
import { caConfigMapYaml, localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CA, type CertPair, type LeafCert } from './support/tls-certs.ts';
import { run } from './translate-helpers.ts';

let defaultCA: CA;
let portCA: CA;
let serverCert: LeafCert;
let clientDefault: LeafCert;
let clientPort: LeafCert;
let v1: EchoBackend;
let v2: EchoBackend;
let plain: Closable;
let dp: DataPlane;

const caRef = (name: string) => `{caCertificateRefs: [{kind: ConfigMap, group: "", name: ${name}}]`;

before(async () => {
  [defaultCA, portCA] = await Promise.all([makeCA('Default CA'), makeCA('Per-port CA')]);
  [serverCert, clientDefault, clientPort] = await Promise.all([
    makeCert(defaultCA, { dns: ['example.org', 'second-example.org', 'tls.example.org'] }),
    makeCert(defaultCA, { cn: 'default-client', client: true }),
    makeCert(portCA, { cn: 'port-client', client: true }),
  ]);
  [v1, v2] = await Promise.all([startEcho('v1'), startEcho('v2')]);
  plain = await tcpEcho('T');
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
});

after(async () => {
  await dp?.close();
  await Promise.all([v1?.close(), v2?.close(), plain?.close()]);
});

/** The scenario's manifests with validation `mode` on both the default and the perPort entry. */
function manifests(ports: { main: number; second: number; tls: number }, mode: string): string {
  const svc = (name: string, port: number) => localServiceYaml(name, 8080, port);
  const modeField = mode ? `, mode: ${mode}` : '';
  return `${caConfigMapYaml('default-ca', defaultCA.certPem)}
---
${caConfigMapYaml('port-ca', portCA.certPem)}
---
${tlsSecretYaml('server-cert', serverCert)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: client-validation, namespace: default}
spec:
  gatewayClassName: portico
  tls:
    frontend:
      default: {validation: ${caRef('default-ca')}${modeField}}}
      perPort:
      - port: ${ports.second}
        tls: {validation: ${caRef('port-ca')}${modeField}}}
  listeners:
  - {name: https, port: ${ports.main}, protocol: HTTPS, tls: {certificateRefs: [{name: server-cert}]}}
  - {name: https-with-hostname, port: ${ports.second}, protocol: HTTPS, hostname: second-example.org, tls: {certificateRefs: [{name: server-cert}]}}
  - {name: tls, port: ${ports.tls}, protocol: TLS, hostname: tls.example.org, tls: {mode: Terminate, certificateRefs: [{name: server-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: default-port, namespace: default}
spec:
  parentRefs: [{name: client-validation, sectionName: https}]
  hostnames: [example.org]
  rules: [{backendRefs: [{name: v1, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: per-port, namespace: default}
spec:
  parentRefs: [{name: client-validation, sectionName: https-with-hostname}]
  rules: [{backendRefs: [{name: v2, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: tls, namespace: default}
spec:
  parentRefs: [{name: client-validation, sectionName: tls}]
  hostnames: [tls.example.org]
  rules: [{backendRefs: [{name: tcp, port: 8080}]}]
---
${svc('v1', v1.port)}
---
${svc('v2', v2.port)}
---
${svc('tcp', plain.port)}`;
}

/** Who answered (the echo backend's name), or '' when the connection or request failed. */
function call(port: number, host: string, cert?: CertPair): Promise<string> {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port, servername: host, headers: { host }, ca: defaultCA.certPem, cert: cert?.certPem, key: cert?.keyPem, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(body) as { name: string }).name : `status ${res.statusCode}`);
        } catch {
          resolve(`status ${res.statusCode}`);
        }
      });
    });
    req.on('error', () => resolve(''));
    req.end();
  });
}

async function scenario(generation: number, mode: string): Promise<{ main: number; second: number; tls: number }> {
  const [main, second, tls] = await Promise.all([freePort(), freePort(), freePort()]);
  const result = run(manifests({ main, second, tls }, mode));
  const applied = await dp.apply({ ...result.ir, generation });
  assert.deepEqual(applied.bindErrors, {});
  return { main, second, tls };
}

test('GatewayFrontendClientCertificateValidation: default CA on one port, the perPort CA on the other', async () => {
  const p = await scenario(1, '');
  assert.equal(await call(p.main, 'example.org', clientDefault), 'v1');
  assert.equal(await call(p.main, 'example.org', clientPort), '', 'the per-port CA does not apply to the default port');
  assert.equal(await call(p.main, 'example.org'), '', 'no certificate');
  assert.equal(await call(p.second, 'second-example.org', clientPort), 'v2');
  assert.equal(await call(p.second, 'second-example.org', clientDefault), '', 'the default CA does not apply to the per-port port');
  // A TLS-terminating listener validates against the default CA too.
  const tlsOpts = { ca: defaultCA.certPem, rejectUnauthorized: true };
  assert.equal((await tlsExchange(p.tls, 'tls.example.org', 'x', { ...tlsOpts, cert: clientDefault.certPem, key: clientDefault.keyPem })).data, 'T\nx' + 'T:bytes=1\n');
  assert.ok(!(await tlsExchange(p.tls, 'tls.example.org', 'x', { ...tlsOpts, cert: clientPort.certPem, key: clientPort.keyPem })).data.includes('T:bytes'));
  assert.ok(!(await tlsExchange(p.tls, 'tls.example.org', 'x', tlsOpts)).data.includes('T:bytes'));
});

test('GatewayFrontendClientCertificateValidationInsecureFallback: every client gets in, with or without a valid certificate', async () => {
  const p = await scenario(2, 'AllowInsecureFallback');
  for (const cert of [clientDefault, clientPort, undefined]) {
    assert.equal(await call(p.main, 'example.org', cert), 'v1', cert ? 'a certificate' : 'no certificate');
    assert.equal(await call(p.second, 'second-example.org', cert), 'v2', cert ? 'a certificate' : 'no certificate');
    const opts = { ca: defaultCA.certPem, rejectUnauthorized: true, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) };
    assert.equal((await tlsExchange(p.tls, 'tls.example.org', 'x', opts)).data, 'T\nx' + 'T:bytes=1\n');
  }
});

test('AllowInsecureFallback admits a certificate from an untrusted CA that shares the trusted CA\'s name (RSA)', async () => {
  // The upstream suite makes both its CAs with one subject and RSA keys, and its client
  // certificates carry no authorityKeyIdentifier: OpenSSL takes the trusted CA as the issuer by
  // name, the signature check fails on RSA padding, and that error, left queued, was raised on the
  // connection's next read (reset). AllowInsecureFallback must not verify at all.
  const [trusted, foreign] = await Promise.all([makeCA('gatewayapi', { rsa: true }), makeCA('gatewayapi', { rsa: true })]);
  const [good, stranger] = await Promise.all([
    makeCert(trusted, { cn: 'default', client: true, rsa: true }),
    makeCert(foreign, { cn: 'default', client: true, rsa: true, noAuthorityKeyId: true }),
  ]);
  const port = await freePort();
  const result = run(`${caConfigMapYaml('same-name-ca', trusted.certPem)}
---
${tlsSecretYaml('server-cert', serverCert)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-name, namespace: default}
spec:
  gatewayClassName: portico
  tls: {frontend: {default: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: same-name-ca}], mode: AllowInsecureFallback}}}}
  listeners:
  - {name: https, port: ${port}, protocol: HTTPS, tls: {certificateRefs: [{name: server-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: same-name, namespace: default}
spec:
  parentRefs: [{name: same-name}]
  hostnames: [example.org]
  rules: [{backendRefs: [{name: v1, port: 8080}]}]
---
${localServiceYaml('v1', 8080, v1.port)}`);
  const applied = await dp.apply({ ...result.ir, generation: 10 });
  assert.deepEqual(applied.bindErrors, {});
  for (const cert of [good, stranger, undefined]) {
    const who = cert === good ? 'trusted certificate' : cert ? 'same-name foreign certificate' : 'no certificate';
    for (let i = 0; i < 3; i++) assert.equal(await call(port, 'example.org', cert), 'v1', who);
  }
});
