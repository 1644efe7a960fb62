// Certificate rotation end to end: `portico run -f DIR` serving an HTTPS listener under load while
// the Secret's manifest file is rewritten with a new certificate. New handshakes must get the new
// certificate within a moment, and not one request may fail meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type tls from 'node:tls';
import { eventually, startRun, tempDir } from './cli-helpers.ts';
import { startEcho } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { GATEWAY_CLASS_YAML, localServiceYaml, tlsSecretYaml } from './support/manifests.ts';
import { makeCA, makeCert, type CertPair } from './support/tls-certs.ts';

const secretYaml = (pem: CertPair) => `${tlsSecretYaml('web-cert', pem)}\n`;

test('portico run: rewriting the Secret file rotates the certificate under load with zero failed requests', async (t) => {
  const ca = await makeCA();
  const [one, two] = await Promise.all([makeCert(ca, { dns: ['web.example.com'] }), makeCert(ca, { dns: ['web.example.com'] })]);
  const [serial1, serial2] = [one, two].map((c) => new X509Certificate(c.certPem).serialNumber);
  const echo = await startEcho('web');
  t.after(() => echo.close());
  const port = await freePort();
  const dir = tempDir(t, 'portico-rotation-');
  writeFileSync(join(dir, 'gateway.yaml'), `${GATEWAY_CLASS_YAML}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: portico
  listeners:
  - name: https
    port: ${port}
    protocol: HTTPS
    hostname: web.example.com
    tls: {mode: Terminate, certificateRefs: [{name: web-cert}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: default}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
${localServiceYaml('web', 80, echo.port)}
`);
  const secretFile = join(dir, 'secret.yaml');
  writeFileSync(secretFile, secretYaml(one));

  await startRun(t, dir);

  const get = (): Promise<{ status: number; serial: string }> => new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', servername: 'web.example.com', headers: { host: 'web.example.com' }, ca: ca.certPem, agent: false }, (res) => {
      const serial = (res.socket as tls.TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
  await eventually(async () => ((await get()).serial === serial1 ? true : undefined), 20_000, 'HTTPS with the first certificate');

  let stopLoad = false;
  const failures: string[] = [];
  let requests = 0;
  const loop = async () => {
    while (!stopLoad) {
      try {
        const r = await get();
        requests++;
        if (r.status !== 200) failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const loops = [loop(), loop(), loop()];
  await new Promise((r) => setTimeout(r, 200));
  // Written aside and renamed into place, as editors and config management do.
  writeFileSync(join(dir, '.secret.tmp'), secretYaml(two));
  renameSync(join(dir, '.secret.tmp'), secretFile);
  await eventually(async () => ((await get()).serial === serial2 ? true : undefined), 20_000, 'the rotated certificate');
  await new Promise((r) => setTimeout(r, 200));
  stopLoad = true;
  await Promise.all(loops);
  assert.deepEqual(failures, []);
  assert.ok(requests > 10, `${requests} requests under load`);
});
