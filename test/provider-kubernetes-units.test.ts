// The pure parts of the Kubernetes provider: kubeconfig parsing, the address pool, the status
// merge. The parts that talk to an API server are tested in provider-kubernetes.test.ts against
// a real kube-apiserver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeconfigError, loadConnection, parseKubeconfig } from '../src/providers/kubernetes/kubeconfig.ts';
import { AddressPool, AddressPoolError, wantsPoolAddress, withAssignedAddress } from '../src/providers/kubernetes/address-pool.ts';
import { mergeStatus, removeOwnEntries, statusDiffers } from '../src/providers/kubernetes/status-merge.ts';
import { microTime } from '../src/providers/kubernetes/leader.ts';
import { keepProgrammed, markAddressNotAssigned } from '../src/providers/kubernetes/mode.ts';
import type { KubeObject } from '../src/api/meta.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const OURS = 'portico.dev/gateway-controller';
const OTHER = 'example.com/other-controller';

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    contexts: [{ name: 'other', context: { cluster: 'x', user: 'x' } }, { name: 'c', context: { cluster: 'k', user: 'u', namespace: 'portico-system' } }],
    clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443/', ...cluster } }],
    users: [{ name: 'u', user }],
  });
}

test('kubeconfig: client certificate and CA as data', () => {
  const c = parseKubeconfig(kubeconfig({ 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') }, { 'certificate-authority-data': b64('CA') }));
  assert.equal(c.server, 'https://127.0.0.1:6443');
  assert.equal(c.ca, 'CA');
  assert.equal(c.cert, 'CERT');
  assert.equal(c.key, 'KEY');
  assert.equal(c.namespace, 'portico-system');
  assert.equal(c.token, undefined);
});

test('kubeconfig: files are resolved relative to the kubeconfig, token and tokenFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-kc-'));
  writeFileSync(join(dir, 'ca.pem'), 'CAFILE');
  writeFileSync(join(dir, 'tok'), 'filetoken\n');
  writeFileSync(join(dir, 'config'), kubeconfig({ tokenFile: 'tok' }, { 'certificate-authority': 'ca.pem', 'tls-server-name': 'kubernetes' }));
  const c = loadConnection({ kubeconfig: join(dir, 'config') });
  assert.equal(c.ca, 'CAFILE');
  assert.equal(c.token?.(), 'filetoken');
  assert.equal(c.tlsServerName, 'kubernetes');
  assert.equal(c.source, join(dir, 'config'));

  const t = parseKubeconfig(kubeconfig({ token: 'abc' }, { 'insecure-skip-tls-verify': true }));
  assert.equal(t.token?.(), 'abc');
  assert.equal(t.insecureSkipTLSVerify, true);
});

test('kubeconfig: $KUBECONFIG, then in-cluster service account', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-kc-'));
  writeFileSync(join(dir, 'config'), kubeconfig({ token: 'fromenv' }));
  const fromEnv = loadConnection({ env: { KUBECONFIG: `${join(dir, 'missing')}:${join(dir, 'config')}` } });
  assert.equal(fromEnv.token?.(), 'fromenv');

  const sa = join(dir, 'sa');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), 'satoken');
  writeFileSync(join(sa, 'ca.crt'), 'SACA');
  writeFileSync(join(sa, 'namespace'), 'gw-system\n');
  const inCluster = loadConnection({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: sa });
  assert.equal(inCluster.server, 'https://10.0.0.1:443');
  assert.equal(inCluster.token?.(), 'satoken');
  assert.equal(inCluster.ca, 'SACA');
  assert.equal(inCluster.namespace, 'gw-system');
  assert.equal(inCluster.source, 'in-cluster');
  const v6 = loadConnection({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1' }, serviceAccountDir: sa });
  assert.equal(v6.server, 'https://[fd00::1]:443');
});

test('kubeconfig: mistakes are explained, exec plugins refused', () => {
  assert.throws(() => parseKubeconfig('a: [b'), KubeconfigError);
  assert.throws(() => parseKubeconfig(kubeconfig({}), { context: 'nope' }), /context "nope" not found/);
  assert.throws(() => parseKubeconfig(kubeconfig({ exec: { command: 'aws' } })), /exec\/auth-provider plugin/);
  assert.throws(() => parseKubeconfig(kubeconfig({ 'client-certificate-data': b64('C') })), /without a key/);
  assert.throws(() => parseKubeconfig(kubeconfig({ 'client-certificate': '/nonexistent/cert' })), /cannot read client-certificate/);
  assert.throws(() => loadConnection({ kubeconfig: '/nonexistent/kubeconfig' }), /cannot read kubeconfig/);
});

test('address pool: stable, lowest free, deterministic order, release', () => {
  const pool = new AddressPool('127.1.0.0/24');
  assert.equal(pool.size, 254n);
  assert.equal(pool.unbindableAddress, '192.0.2.0');
  assert.ok(pool.contains('127.1.0.1') && pool.contains('127.1.0.254'));
  assert.ok(!pool.contains('127.1.0.0') && !pool.contains('127.1.0.255') && !pool.contains('127.1.1.1') && !pool.contains('::1') && !pool.contains('x'));
  assert.equal(new AddressPool('fd00::/64').unbindableAddress, '100::');
  const gw = (name: string, ts: string, namespace = 'ns') => ({ key: `${namespace}/${name}`, name, namespace, creationTimestamp: ts });
  let a = pool.assign([gw('b', '2026-01-01T00:00:02Z'), gw('a', '2026-01-01T00:00:02Z'), gw('old', '2026-01-01T00:00:01Z')]);
  assert.deepEqual([...a].sort(), [['ns/a', '127.1.0.2'], ['ns/b', '127.1.0.3'], ['ns/old', '127.1.0.1']]);
  // Deleting "a" frees .2; the existing ones keep theirs; a new one takes the lowest free.
  a = pool.assign([gw('b', '2026-01-01T00:00:02Z'), gw('old', '2026-01-01T00:00:01Z'), gw('new', '2026-01-01T00:00:09Z')]);
  assert.equal(a.get('ns/b'), '127.1.0.3');
  assert.equal(a.get('ns/old'), '127.1.0.1');
  assert.equal(a.get('ns/new'), '127.1.0.2');
});

test('address pool: exhaustion leaves a gateway unassigned; small and IPv6 pools', () => {
  const pool = new AddressPool('10.9.0.4/31');
  const gws = ['x', 'y', 'z'].map((name, i) => ({ key: `d/${name}`, name, namespace: 'd', creationTimestamp: `2026-01-01T00:00:0${i}Z` }));
  const a = pool.assign(gws);
  assert.equal(a.get('d/x'), '10.9.0.4');
  assert.equal(a.get('d/y'), '10.9.0.5');
  assert.equal(a.get('d/z'), undefined);
  const single = new AddressPool('127.0.0.9/32');
  assert.equal(single.assign(gws).get('d/x'), '127.0.0.9');
  const v6 = new AddressPool('fd00:10::/120');
  assert.equal(v6.assign(gws).get('d/y'), 'fd00:10::2');
  const v4mapped = new AddressPool('::ffff:127.0.0.0/126');
  assert.equal(v4mapped.assign(gws).get('d/x'), '::ffff:7f00:1');
  for (const bad of ['127.0.0.1', '300.0.0.0/8', '10.0.0.0/33', 'fd00::/129', 'nope/24']) {
    assert.throws(() => new AddressPool(bad), AddressPoolError, bad);
  }
});

test('address pool: only gateways without spec.addresses, injected on a copy', () => {
  const g: KubeObject = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g', namespace: 'n' }, spec: { gatewayClassName: 'c', listeners: [] } };
  assert.equal(wantsPoolAddress(g), true);
  assert.equal(wantsPoolAddress({ ...g, spec: { addresses: [{ value: '10.0.0.1' }] } }), false);
  const copy = withAssignedAddress(g, '127.1.0.1');
  assert.deepEqual((copy.spec as any).addresses, [{ type: 'IPAddress', value: '127.1.0.1' }]);
  assert.equal((g.spec as any).addresses, undefined, 'the original is not changed');
  assert.equal((copy.spec as any).gatewayClassName, 'c');
});

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-02-02T00:00:00Z';
const cond = (type: string, status: string, reason: string, t = T1, gen?: number) => ({ type, status, reason, message: '', lastTransitionTime: t, ...(gen === undefined ? {} : { observedGeneration: gen }) });

test('status merge: gateway conditions by type, others kept in place, times kept when unchanged', () => {
  const current = {
    conditions: [cond('Accepted', 'True', 'Accepted', T0, 1), cond('example.com/Healthy', 'True', 'Fine', T0, 1), cond('Programmed', 'False', 'Pending', T0, 1), cond('InsecureFrontendValidationMode', 'True', 'ConfigurationChanged', T0, 1)],
    listeners: [{ name: 'http', attachedRoutes: 1, supportedKinds: [], conditions: [cond('Accepted', 'True', 'Accepted', T0, 1)] }],
    addresses: [{ type: 'IPAddress', value: '127.1.0.1' }],
  };
  const desired = {
    conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')],
    listeners: [{ name: 'http', attachedRoutes: 2, supportedKinds: [], conditions: [cond('Accepted', 'True', 'Accepted')] }],
  };
  const merged = mergeStatus('Gateway', current, desired, OURS, 2) as any;
  assert.deepEqual(merged.conditions.map((c: any) => c.type), ['Accepted', 'example.com/Healthy', 'Programmed']);
  assert.equal(merged.conditions[0].lastTransitionTime, T0, 'unchanged status keeps its time');
  assert.equal(merged.conditions[0].observedGeneration, 2);
  assert.equal(merged.conditions[1].observedGeneration, 1, "another controller's condition is untouched");
  assert.equal(merged.conditions[2].lastTransitionTime, T1);
  assert.equal(merged.listeners[0].conditions[0].lastTransitionTime, T0);
  assert.equal(merged.listeners[0].attachedRoutes, 2);
  assert.equal(merged.addresses, undefined, 'a field Portico fills and no longer reports is removed');
  assert.equal(statusDiffers(merged, current), true);
  assert.equal(statusDiffers(merged, structuredClone(merged)), false);
});

test('status merge: route parents of other controllers are kept; ours replaced', () => {
  const ref = (name: string, sectionName?: string) => ({ name, ...(sectionName ? { sectionName } : {}) });
  const current = {
    parents: [
      { parentRef: ref('a'), controllerName: OTHER, conditions: [cond('Accepted', 'True', 'Accepted', T0, 1)] },
      { parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', ...ref('g') }, controllerName: OURS, conditions: [cond('Accepted', 'True', 'Accepted', T0, 1)] },
      { parentRef: ref('gone'), controllerName: OURS, conditions: [cond('Accepted', 'True', 'Accepted', T0, 1)] },
    ],
  };
  const desired = { parents: [{ parentRef: ref('g'), controllerName: OURS, conditions: [cond('Accepted', 'True', 'Accepted'), cond('ResolvedRefs', 'False', 'BackendNotFound')] }] };
  const merged = mergeStatus('HTTPRoute', current, desired, OURS, 3) as any;
  assert.equal(merged.parents.length, 2);
  assert.deepEqual(merged.parents[0], current.parents[0]);
  assert.equal(merged.parents[1].parentRef.name, 'g');
  assert.equal(merged.parents[1].conditions[0].lastTransitionTime, T0, 'matched by parentRef with defaulted group/kind');
  assert.equal(merged.parents[1].conditions[1].observedGeneration, 3);
  assert.equal(statusDiffers(merged, current), true);

  const removed = removeOwnEntries('HTTPRoute', current, OURS) as any;
  assert.deepEqual(removed.parents, [current.parents[0]]);
  assert.equal(removeOwnEntries('HTTPRoute', { parents: [current.parents[0]] }, OURS), undefined);
});

test('status merge: policies use ancestors', () => {
  const current = { ancestors: [{ ancestorRef: { name: 'g' }, controllerName: OTHER, conditions: [] }] };
  const desired = { ancestors: [{ ancestorRef: { name: 'g' }, controllerName: OURS, conditions: [cond('Accepted', 'True', 'Accepted')] }] };
  const merged = mergeStatus('BackendTLSPolicy', current, desired, OURS, 1) as any;
  assert.deepEqual(merged.ancestors.map((a: any) => a.controllerName), [OTHER, OURS]);
});

test('status differs: server defaults in the cluster copy do not count as changes', () => {
  const merged = { parents: [{ parentRef: { name: 'g' }, controllerName: OURS, conditions: [cond('Accepted', 'True', 'Accepted', T0, 1)] }] };
  const inCluster = { parents: [{ parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'g' }, controllerName: OURS, conditions: [cond('Accepted', 'True', 'Accepted', T0, 1)] }] };
  assert.equal(statusDiffers(merged, inCluster), false);
  assert.equal(statusDiffers(merged, { parents: [] }), true);
  assert.equal(statusDiffers(merged, undefined), true);
  assert.equal(statusDiffers({ conditions: [] }, { conditions: [cond('Accepted', 'True', 'Accepted')] }), true);
});

test('lease times are MicroTime (six fractional digits)', () => {
  assert.equal(microTime(new Date('2026-11-26T10:20:04.123Z')), '2026-11-26T10:20:04.123000Z');
});

test('pool exhausted: Programmed=False/AddressNotAssigned, no addresses reported', () => {
  const status = {
    conditions: [cond('Accepted', 'True', 'Accepted', T0), cond('Programmed', 'True', 'Programmed', T0)],
    addresses: [{ type: 'IPAddress', value: '0.0.0.0' }],
    listeners: [{ name: 'http', conditions: [cond('Programmed', 'False', 'Invalid', T0)] }],
  };
  const out = markAddressNotAssigned(status, 'No address left', T1) as any;
  assert.deepEqual(out.listeners[0].conditions[0], { type: 'Programmed', status: 'False', reason: 'Pending', message: 'No address left', lastTransitionTime: T1 });
  assert.deepEqual(out.conditions[1], { type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', message: 'No address left', lastTransitionTime: T1 });
  assert.equal(out.conditions[0].lastTransitionTime, T0);
  assert.equal(out.addresses, undefined);
  assert.equal(status.conditions[1].status, 'True', 'the input is not changed');
  const again = markAddressNotAssigned(out, 'No address left', '2026-03-03T00:00:00Z') as any;
  assert.equal(again.conditions[1].lastTransitionTime, T1, 'unchanged condition keeps its time');
});

test('Programmed stays True for a generation already programmed while a newer configuration is applied', () => {
  const pending = (t = T1) => cond('Programmed', 'False', 'Pending', t, 3);
  const desired = { conditions: [cond('Accepted', 'True', 'Accepted', T1, 3), pending()], listeners: [{ name: 'a', conditions: [pending()] }, { name: 'new', conditions: [pending()] }] };
  const live = cond('Programmed', 'True', 'Programmed', T0, 3);
  const cluster: KubeObject = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'g', generation: 3 }, status: { conditions: [live], listeners: [{ name: 'a', conditions: [live] }] } };
  const out = keepProgrammed(desired, cluster, 3) as any;
  assert.deepEqual(out.conditions[1], live);
  assert.deepEqual(out.listeners[0].conditions[0], live);
  assert.equal(out.listeners[1].conditions[0].reason, 'Pending', 'a listener never programmed stays pending');
  // A new generation of the Gateway itself waits for the data plane.
  assert.equal(keepProgrammed(desired, { ...cluster, metadata: { name: 'g', generation: 4 } }, 4), desired);
  const olderLive = { ...cluster, status: { conditions: [cond('Programmed', 'True', 'Programmed', T0, 2)] } };
  assert.equal((keepProgrammed(desired, olderLive, 3) as any).conditions[1].reason, 'Pending');
});
