// The admin API, served by a real `portico run` on real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startAdminServer } from '../src/admin/server.ts';
import { renderStatusPage } from '../src/admin/ui.ts';
import { adminStatus, eventually, startRun, stop, tempDir, waitReady } from './cli-helpers.ts';
import { freePort } from './support/client.ts';
import { GATEWAY_CLASS_YAML } from './support/manifests.ts';

const manifests = (port: number, path: string) => `
${GATEWAY_CLASS_YAML}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, protocol: HTTP, port: ${port}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: "${path}"}}]
`;

test('admin API of portico run: healthz, readyz, status, config, metrics; follows file changes', async (t) => {
  const dir = tempDir(t, 'portico-admin-');
  const file = join(dir, 'gw.yaml');
  const port = await freePort();
  writeFileSync(file, manifests(port, '/one'));

  const { child, admin } = await startRun(t, dir);
  const get = async (path: string) => {
    const res = await fetch(`${admin}${path}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  };

  const health = await get('/healthz');
  assert.equal(health.status, 200);
  assert.equal(health.body, 'ok\n');
  await eventually(async () => ((await get('/readyz')).status === 200 ? true : undefined), 20_000, '/readyz 200');

  const status = await get('/status');
  assert.equal(status.status, 200);
  assert.match(status.type, /application\/json/);
  const list = JSON.parse(status.body);
  assert.equal(list.kind, 'List');
  assert.equal(list.apiVersion, 'v1');
  assert.ok(Array.isArray(list.items));
  const yaml = await get('/status?output=yaml');
  assert.match(yaml.body, /^apiVersion: v1\nkind: List\n/);

  const config = JSON.parse((await get('/config')).body);
  assert.equal(config.generation, 1);
  assert.ok(Array.isArray(config.gateways));

  const metrics = (await get('/metrics')).body;
  for (const name of ['portico_controller_snapshot_generation 1', 'portico_controller_applied_generation 1', 'portico_controller_reloads_total 1', 'portico_controller_translate_duration_seconds_count 1']) {
    assert.ok(metrics.includes(name), `${name} in\n${metrics}`);
  }

  if (list.items.length > 0) {
    // translate() reports status: the live Gateway is Programmed (the data plane applied it).
    const gw = list.items.find((i: { kind: string }) => i.kind === 'Gateway');
    const programmed = gw?.status?.conditions?.find((c: { type: string }) => c.type === 'Programmed');
    assert.equal(programmed?.status, 'True', JSON.stringify(gw?.status));
  }

  // A saved change becomes a new configuration; the route's generation bumps.
  writeFileSync(file, manifests(port, '/two'));
  await eventually(async () => (JSON.parse((await get('/config')).body).generation === 2 ? true : undefined), 20_000, 'config generation 2');
  const after = JSON.parse((await get('/status')).body);
  const route = after.items.find((i: { kind: string }) => i.kind === 'HTTPRoute');
  if (route) assert.equal(route.metadata.generation, 2);

  // A file that does not parse: the process keeps serving the last good version and says why.
  writeFileSync(file, 'kind: Gateway\nmetadata:\n  name: [oops\n');
  await eventually(async () => ((await get('/metrics')).body.includes('portico_controller_provider_diagnostics 1') ? true : undefined), 20_000, 'the diagnostic');
  assert.equal(JSON.parse((await get('/config')).body).generation, 3);
  assert.equal((await get('/healthz')).status, 200);

  assert.equal(await stop(child), 0, 'SIGTERM stops cleanly');
});

test('admin API: 503 before the first configuration is live, 404 and 405 otherwise, no private keys in /config', async (t) => {
  let ready = false;
  let config: unknown = undefined;
  const server = await startAdminServer('127.0.0.1', 0, {
    ready: () => ready,
    status: () => ({ apiVersion: 'v1', kind: 'List', items: [] }),
    config: () => config,
    metrics: async () => 'm 1\n',
  });
  t.after(() => server.close());
  const base = `http://${server.address}`;
  assert.equal((await fetch(`${base}/readyz`)).status, 503);
  ready = true;
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  assert.equal(await (await fetch(`${base}/config`)).text(), 'null\n');
  config = { gateways: [{ listeners: [{ tls: { certificates: [{ certPem: 'CERT', keyPem: '-----BEGIN PRIVATE KEY-----' }] } }] }] };
  const served = await (await fetch(`${base}/config`)).text();
  assert.ok(!served.includes('PRIVATE KEY'), 'private keys are not served');
  assert.deepEqual(JSON.parse(served).gateways[0].listeners[0].tls.certificates[0], { certPem: 'CERT', keyPem: '(redacted)' });
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/status`, { method: 'POST' })).status, 405);
  assert.equal(await (await fetch(`${base}/metrics`)).text(), 'm 1\n');
});

test('a port the data plane cannot bind is reported: listener and Gateway Programmed=False', async (t) => {
  const dir = tempDir(t, 'portico-admin-');
  // Hold the port so the data plane cannot bind it.
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const port = (holder.address() as { port: number }).port;
  writeFileSync(join(dir, 'gw.yaml'), manifests(port, '/'));

  const { admin } = await startRun(t, dir);
  await waitReady(admin);
  const list = await adminStatus<{ kind: string; status: { conditions?: { type: string; status: string; reason: string; message: string }[]; listeners?: { name: string; conditions: { type: string; status: string; reason: string; message: string }[] }[] } }>(admin);
  const gw = list.items.find((i) => i.kind === 'Gateway');
  if (!gw) {
    t.diagnostic('translate() reports no Gateway status yet');
    return;
  }
  const listenerProgrammed = gw.status.listeners?.find((l) => l.name === 'http')?.conditions.find((c) => c.type === 'Programmed');
  assert.equal(listenerProgrammed?.status, 'False', JSON.stringify(gw.status));
  assert.equal(listenerProgrammed?.reason, 'Invalid');
  assert.match(listenerProgrammed?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
  const gwProgrammed = gw.status.conditions?.find((c) => c.type === 'Programmed');
  assert.equal(gwProgrammed?.status, 'False');
  assert.equal(gwProgrammed?.reason, 'AddressNotUsable');
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  assert.ok(metrics.includes('portico_controller_bind_errors 1'), metrics);
});

test('admin status page: one row per object part, manifest text escaped', () => {
  const page = renderStatusPage({
    items: [{
      kind: 'HTTPRoute',
      metadata: { namespace: 'a', name: '<script>x</script>' },
      status: { parents: [{ parentRef: { name: 'gw', namespace: 'infra' }, conditions: [{ type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners', message: 'no "listener" & <b>' }] }] },
    }],
  }, false);
  assert.ok(!page.includes('<script>'));
  assert.ok(page.includes('&#60;script&#62;x&#60;/script&#62;'));
  assert.ok(page.includes('no &#34;listener&#34; &#38; &#60;b&#62;'));
  assert.match(page, /Not ready/);
});
