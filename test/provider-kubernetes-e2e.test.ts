// `portico run --kubernetes` as a real process against the real API server: the GatewayClass is
// accepted, the Gateway gets an address from --address-pool and is Programmed at its generation,
// the route is accepted, traffic flows through that address, and a change to the route in the
// cluster changes the traffic. Skips loudly without the local cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { KubeClient } from '../src/providers/kubernetes/client.ts';
import { eventually, remove, testCluster, uniq } from './provider-kubernetes-cluster.ts';

const GW = '/apis/gateway.networking.k8s.io/v1';

function httpGet(host: string, port: number, path: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, headers: { host: 'e2e.example.com' }, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const condition = (obj: any, type: string) => obj?.status?.conditions?.find((c: any) => c.type === type);

test('portico run --kubernetes: status written by the leader, pool address, traffic, live changes', async (t) => {
  const conn = await testCluster(t);
  if (!conn) return;
  const admin = new KubeClient(conn);
  const ns = uniq('pk-e2e');
  const className = uniq('portico-e2e');
  // A controllerName of its own: another Portico on this cluster (a conformance run, a parallel
  // test run) leaves these objects alone.
  const CONTROLLER_NAME = `portico.dev/${uniq('e2e')}`;
  // A random /30 on loopback (two addresses), so that parallel runs do not share addresses.
  const pool = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.0/30`;
  const expectedAddress = pool.replace(/0\/30$/, '1');
  const port = 20000 + Math.floor(Math.random() * 20000);
  let child: ReturnType<typeof spawn> | undefined;
  let output = '';
  try {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    // The kubeconfig's namespace is where the Lease goes: one of our own, so that any other
    // Portico on this cluster (a conformance run) does not hold our leadership.
    const dir = mkdtempSync(join(tmpdir(), 'portico-e2e-'));
    const kc = parse(readFileSync(conn.source, 'utf8'));
    for (const c of kc.contexts) c.context.namespace = ns;
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify(kc), { mode: 0o600 });

    await admin.request('POST', `${GW}/gatewayclasses`, { body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: className }, spec: { controllerName: CONTROLLER_NAME } } });
    await admin.request('POST', `${GW}/namespaces/${ns}/gateways`, { body: {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw' },
      spec: { gatewayClassName: className, listeners: [{ name: 'http', port, protocol: 'HTTP' }] },
    } });
    // Two more Gateways take the pool's second address and find it exhausted; one asks for an
    // address this host does not have.
    const gateway = (name: string, extra: Record<string, unknown> = {}) => admin.request('POST', `${GW}/namespaces/${ns}/gateways`, { body: {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name },
      spec: { gatewayClassName: className, listeners: [{ name: 'http', port: port + 1, protocol: 'HTTP' }], ...extra },
    } });
    await gateway('overflow-1');
    await gateway('overflow-2');
    await gateway('unusable', { addresses: [{ type: 'IPAddress', value: '192.0.2.55' }] });
    const redirect = (hostname: string) => ({ rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname, statusCode: 302 } }] }] });
    await admin.request('POST', `${GW}/namespaces/${ns}/httproutes`, { body: {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' },
      spec: { parentRefs: [{ name: 'gw' }], ...redirect('first.example.org') },
    } });

    child = spawn(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), 'run', '--kubernetes',
      '--kubeconfig', kubeconfig, '--address-pool', pool, '--controller-name', CONTROLLER_NAME, '--admin-address', '127.0.0.1:0', '--workers', '0', '--no-access-log'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c) => { output += c; });
    child.stderr!.on('data', (c) => { output += c; });
    const exited = new Promise((resolve) => child!.on('exit', resolve));
    void exited.then(() => { output += '\n[portico exited]'; });
    const fail = (what: string) => `${what}\n--- portico output ---\n${output.slice(-3000)}`;

    const gc = await eventually('GatewayClass Accepted', async () => {
      const o = await admin.request('GET', `${GW}/gatewayclasses/${className}`);
      return condition(o, 'Accepted')?.status === 'True' ? o : undefined;
    }, 60_000) // includes the process start, slow on a loaded 2-core machine.catch((e) => assert.fail(fail(e.message)));
    assert.equal(condition(gc, 'Accepted').observedGeneration, gc.metadata.generation);

    const gw = await eventually('Gateway Programmed with its pool address', async () => {
      const o = await admin.request('GET', `${GW}/namespaces/${ns}/gateways/gw`);
      return condition(o, 'Programmed')?.status === 'True' && o.status.addresses?.length ? o : undefined;
    }, 30_000).catch((e) => assert.fail(fail(e.message)));
    assert.deepEqual(gw.status.addresses, [{ type: 'IPAddress', value: expectedAddress }]);
    assert.equal(gw.spec.addresses, undefined, 'spec is never written');
    for (const c of gw.status.conditions) assert.equal(c.observedGeneration, 1, `${c.type} at generation 1`);

    const programmedOf = async (name: string) => condition(await admin.request('GET', `${GW}/namespaces/${ns}/gateways/${name}`), 'Programmed');
    await eventually('overflow-1 programmed', async () => (await programmedOf('overflow-1'))?.status === 'True', 30_000).catch((e) => assert.fail(fail(e.message)));
    const exhausted = await eventually('overflow-2 without address', async () => {
      const c = await programmedOf('overflow-2');
      return c?.reason === 'AddressNotAssigned' ? c : undefined;
    }, 30_000).catch((e) => assert.fail(fail(e.message)));
    assert.equal(exhausted.status, 'False');
    // ... and it serves nothing: no fallback to 0.0.0.0 on its port.
    await assert.rejects(httpGet('127.0.0.1', port + 1, '/'), /ECONNREFUSED/);
    const unusable = await eventually('unusable address reported', async () => {
      const c = await programmedOf('unusable');
      return c?.reason === 'AddressNotUsable' ? c : undefined;
    }, 30_000).catch(async (e) => assert.fail(fail(`${e.message}: ${JSON.stringify(await programmedOf('unusable'))}`)));
    assert.equal(unusable.status, 'False');

    const route = await eventually('route accepted', async () => {
      const o = await admin.request('GET', `${GW}/namespaces/${ns}/httproutes/r`);
      const parent = o.status?.parents?.find((p: any) => p.controllerName === CONTROLLER_NAME);
      return parent?.conditions?.find((c: any) => c.type === 'Accepted')?.status === 'True' ? o : undefined;
    }, 30_000).catch(async (e) => assert.fail(fail(`${e.message}; route status: ${JSON.stringify((await admin.request('GET', `${GW}/namespaces/${ns}/httproutes/r`)).status)}`)));
    assert.equal(route.status.parents.length, 1);

    const res = await eventually('traffic through the pool address', () => httpGet(expectedAddress, port, '/x'), 10_000)
      .catch((e) => assert.fail(fail(e.message)));
    assert.equal(res.status, 302);
    assert.match(String(res.headers.location), /first\.example\.org/);

    // A change in the cluster reaches the data plane.
    await admin.request('PATCH', `${GW}/namespaces/${ns}/httproutes/r`, { body: { spec: redirect('second.example.org') }, contentType: 'application/merge-patch+json' });
    await eventually('the new redirect', async () => /second\.example\.org/.test(String((await httpGet(expectedAddress, port, '/x')).headers.location)), 10_000)
      .catch((e) => assert.fail(fail(e.message)));
    const after = await eventually('route status at generation 2', async () => {
      const o = await admin.request('GET', `${GW}/namespaces/${ns}/httproutes/r`);
      const parent = o.status?.parents?.find((p: any) => p.controllerName === CONTROLLER_NAME);
      return parent?.conditions?.find((c: any) => c.type === 'Accepted')?.observedGeneration === 2 ? o : undefined;
    }, 10_000).catch((e) => assert.fail(fail(e.message)));
    assert.equal(after.metadata.generation, 2);

    // SIGTERM: a clean stop releases the lease.
    child.kill('SIGTERM');
    await exited;
    const lease = await admin.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/portico-leader`);
    assert.ok(!lease.spec.holderIdentity, fail('the lease is released on SIGTERM'));
  } finally {
    child?.kill('SIGKILL');
    await remove(admin, `${GW}/gatewayclasses/${className}`).catch(() => {});
    await remove(admin, `/api/v1/namespaces/${ns}`).catch(() => {});
    admin.close();
  }
});
