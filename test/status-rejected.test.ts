// Status of objects refused by validation (status/rejected.ts), over real translate() results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, KubeObject } from '../src/api/meta.ts';
import { validateObject } from '../src/api/validation/index.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import type { RejectedObject, Snapshot } from '../src/providers/snapshot.ts';
import { addRejectedStatuses, rejectionMessage } from '../src/status/rejected.ts';
import { translate } from '../src/translate/index.ts';

const NOW = '2026-01-01T00:00:00Z';
const G = 'gateway.networking.k8s.io/v1';

const meta = (name: string, generation = 1, namespace: string | undefined = 'default') => ({
  name, namespace, generation, uid: `uid-${name}`, creationTimestamp: '2025-01-01T00:00:00Z',
});
const gatewayClass = (name: string, controllerName: string, gen = 1): KubeObject => ({
  apiVersion: G, kind: 'GatewayClass', metadata: meta(name, gen, undefined), spec: { controllerName },
});
const gateway = (name: string, cls: string, listeners: unknown[] = [{ name: 'http', port: 8080, protocol: 'HTTP' }]): KubeObject => ({
  apiVersion: G, kind: 'Gateway', metadata: meta(name), spec: { gatewayClassName: cls, listeners },
});
const httpRoute = (name: string, parentRefs: unknown[], path: string, gen = 1): KubeObject => ({
  apiVersion: G, kind: 'HTTPRoute', metadata: meta(name, gen),
  spec: { parentRefs, rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: 'web', port: 80 }] }] },
});
const serviceAndSlice = (): KubeObject[] => [
  { apiVersion: 'v1', kind: 'Service', metadata: meta('web'), spec: { ports: [{ name: 'http', port: 80, targetPort: 9000 }] } },
  {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { ...meta('web'), labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'http', port: 9000 }],
  },
];

function refused(object: KubeObject, servingGeneration?: number): RejectedObject {
  const errors = validateObject(object);
  assert.ok(errors.length > 0, `${object.kind} ${object.metadata.name} is invalid`);
  return servingGeneration === undefined ? { object, errors } : { object, errors, servingGeneration };
}

function run(objects: KubeObject[], rejected: RejectedObject[], previous?: ReadonlyMap<string, unknown>) {
  const snapshot: Snapshot = { ...buildSnapshot(objects, 1), rejected };
  const result = translate(snapshot, { now: NOW });
  const statuses = addRejectedStatuses(result.statuses, snapshot, { now: NOW, ir: result.ir, previous });
  return { result, statuses, byKey: new Map(statuses.map((s) => [s.key, s])) };
}

const conditions = (status: Record<string, unknown> | undefined) => (status?.conditions ?? []) as Condition[];

test('nothing refused: translate()\'s list is returned as it is', () => {
  const snapshot = buildSnapshot([gatewayClass('portico', 'portico.dev/gateway-controller')], 1);
  const result = translate(snapshot, { now: NOW });
  assert.equal(addRejectedStatuses(result.statuses, snapshot, { now: NOW }), result.statuses);
});

test('GatewayClass, Gateway and ListenerSet: Accepted=False with the spec\'s reasons, only for ours', () => {
  const dupListeners = [{ name: 'a', port: 80, protocol: 'HTTP' }, { name: 'a', port: 81, protocol: 'HTTP' }];
  const ours = gatewayClass('portico', 'portico.dev/gateway-controller');
  const badClass = gatewayClass('bad', 'portico.dev/gateway-controller');
  (badClass.spec as Record<string, unknown>).controllerName = 'portico.dev/gateway-controller';
  (badClass.spec as Record<string, unknown>).description = 'x'.repeat(70000);
  const foreignBadClass: KubeObject = { ...badClass, metadata: meta('foreign', 1, undefined), spec: { controllerName: 'example.com/other', description: 'x'.repeat(70000) } };
  const parent = gateway('gw', 'portico');
  const set: KubeObject = {
    apiVersion: G, kind: 'ListenerSet', metadata: meta('set'),
    spec: { parentRef: { name: 'gw' }, listeners: dupListeners },
  };
  const { byKey } = run([ours, parent, gatewayClass('other', 'example.com/other')], [
    refused(badClass), refused(foreignBadClass), refused(gateway('gw2', 'portico', dupListeners)),
    refused(gateway('theirs', 'other', dupListeners)), refused(set),
  ]);

  const cls = conditions(byKey.get('GatewayClass/bad')?.status);
  assert.deepEqual(cls.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Accepted', 'False', 'InvalidParameters', 1]]);
  assert.ok(cls[0]!.message.length <= 32768);
  assert.match(cls[0]!.message, /; nothing is served for this object$/);
  assert.equal(byKey.get('GatewayClass/foreign'), undefined, 'a class of another controller is left alone');

  const gw = conditions(byKey.get('Gateway/default/gw2')?.status);
  assert.deepEqual(gw.map((c) => [c.type, c.status, c.reason]), [['Accepted', 'False', 'Invalid'], ['Programmed', 'False', 'Invalid']]);
  assert.match(gw[0]!.message, /^rejected as the API server would: spec\.listeners.*; nothing is served for this object$/);
  assert.equal(byKey.get('Gateway/default/theirs'), undefined, 'a Gateway of another controller\'s class is left alone');

  const ls = conditions(byKey.get('ListenerSet/default/set')?.status);
  assert.deepEqual(ls.map((c) => [c.type, c.status, c.reason]), [['Accepted', 'False', 'Invalid'], ['Programmed', 'False', 'Invalid']]);
});

test('a refused route: one Accepted=False/UnsupportedValue entry per parentRef to our parents, none for others', () => {
  const objects = [
    gatewayClass('portico', 'portico.dev/gateway-controller'), gatewayClass('other', 'example.com/other'),
    gateway('gw', 'portico'), gateway('theirs', 'other'),
  ];
  // Duplicate parentRefs are themselves refused by the API server; the status lists each parent once.
  const route = httpRoute('r', [{ name: 'gw' }, { name: 'theirs' }, { name: 'gw', sectionName: 'http' }, { name: 'gw' }], 'relative');
  const badGateway = gateway('gw2', 'portico', [{ name: 'a', port: 80, protocol: 'HTTP' }, { name: 'a', port: 81, protocol: 'HTTP' }]);
  const toRefusedGateway = httpRoute('r2', [{ name: 'gw2' }], 'relative');
  const foreignOnly = httpRoute('r3', [{ name: 'theirs' }], 'relative');
  const { byKey } = run(objects, [refused(route), refused(badGateway), refused(toRefusedGateway), refused(foreignOnly)]);

  const parents = byKey.get('HTTPRoute/default/r')?.status.parents as { parentRef: unknown; controllerName: string; conditions: Condition[] }[];
  assert.deepEqual(parents.map((p) => p.parentRef), [
    { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' },
    { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw', sectionName: 'http' },
  ]);
  for (const p of parents) {
    assert.equal(p.controllerName, 'portico.dev/gateway-controller');
    assert.deepEqual(p.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration, c.lastTransitionTime]), [['Accepted', 'False', 'UnsupportedValue', 1, NOW]]);
    assert.ok(p.conditions[0]!.message.includes('spec.rules[0].matches[0].path: '), p.conditions[0]!.message);
    assert.ok(p.conditions[0]!.message.includes('spec.parentRefs'), p.conditions[0]!.message);
  }
  assert.ok(byKey.get('HTTPRoute/default/r2'), 'a refused Gateway of our class still owns its routes\' status');
  assert.equal(byKey.get('HTTPRoute/default/r3'), undefined);
});

test('a refused update: its status replaces the serving version\'s, naming the serving generation; transition times kept', () => {
  const base = [gatewayClass('portico', 'portico.dev/gateway-controller'), gateway('gw', 'portico'), ...serviceAndSlice()];
  const serving = httpRoute('r', [{ name: 'gw' }], '/ok', 3);
  const first = run([...base, serving], []);
  const servingStatus = first.byKey.get('HTTPRoute/default/r')!;
  assert.equal((servingStatus.status.parents as { conditions: Condition[] }[])[0]!.conditions.find((c) => c.type === 'Accepted')?.status, 'True');

  const update = refused(httpRoute('r', [{ name: 'gw' }], 'nope', 4), 3);
  const previous = new Map([['HTTPRoute/default/r', { parents: [{ parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }, controllerName: 'portico.dev/gateway-controller', conditions: [{ type: 'Accepted', status: 'False', reason: 'UnsupportedValue', message: 'old', lastTransitionTime: '2025-06-01T00:00:00Z' }] }] }]]);
  const { statuses, byKey, result } = run([...base, serving], [update], previous);
  assert.equal(statuses.filter((s) => s.key === 'HTTPRoute/default/r').length, 1, 'one entry per object');
  const s = byKey.get('HTTPRoute/default/r')!;
  assert.equal(s.object, update.object, 'the status describes the object as it is now');
  const c = (s.status.parents as { conditions: Condition[] }[])[0]!.conditions[0]!;
  assert.equal(c.observedGeneration, 4);
  assert.equal(c.lastTransitionTime, '2025-06-01T00:00:00Z', 'still False: the transition time stays');
  assert.equal(c.message, rejectionMessage(update));
  assert.match(c.message, /; the previous valid version \(generation 3\) keeps serving$/);
  // The IR still routes the serving version.
  assert.ok(JSON.stringify(result.ir).includes('"/ok"'));
  const keys = statuses.map((x) => x.key);
  assert.deepEqual(keys, [...keys].sort(), 'sorted by key');
});

test('a refused BackendTLSPolicy: Accepted=False/Invalid per Gateway using a targeted Service', () => {
  const base = [gatewayClass('portico', 'portico.dev/gateway-controller'), gateway('gw', 'portico'), ...serviceAndSlice(), httpRoute('r', [{ name: 'gw' }], '/')];
  const policy: KubeObject = {
    apiVersion: G, kind: 'BackendTLSPolicy', metadata: meta('tls'),
    // hostname is required, and a policy needs CA certificates or well-known ones.
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }], validation: {} },
  };
  const elsewhere: KubeObject = { ...policy, metadata: meta('unused'), spec: { targetRefs: [{ group: '', kind: 'Service', name: 'nobody' }], validation: {} } };
  const { byKey } = run(base, [refused(policy), refused(elsewhere)]);
  const ancestors = byKey.get('BackendTLSPolicy/default/tls')?.status.ancestors as { ancestorRef: unknown; conditions: Condition[] }[];
  assert.deepEqual(ancestors.map((a) => a.ancestorRef), [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'default', name: 'gw' }]);
  assert.deepEqual(ancestors[0]!.conditions.map((c) => [c.type, c.status, c.reason]), [['Accepted', 'False', 'Invalid']]);
  assert.equal(byKey.get('BackendTLSPolicy/default/unused'), undefined, 'no Gateway of ours uses its Service: nothing to report');
});

test('a refused update of a serving BackendTLSPolicy keeps reporting to the serving version\'s ancestors', () => {
  const base = [gatewayClass('portico', 'portico.dev/gateway-controller'), gateway('gw', 'portico'), ...serviceAndSlice(), httpRoute('r', [{ name: 'gw' }], '/')];
  const serving: KubeObject = {
    apiVersion: G, kind: 'BackendTLSPolicy', metadata: meta('tls'),
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }], validation: { hostname: 'web.example', wellKnownCACertificates: 'System' } },
  };
  assert.deepEqual(validateObject(serving), []);
  // The update retargets a Service no Gateway uses, and is invalid: the status still goes to the serving version's ancestors.
  const update: KubeObject = { ...serving, metadata: meta('tls', 2), spec: { targetRefs: [{ group: '', kind: 'Service', name: 'nobody' }], validation: {} } };
  const { byKey } = run([...base, serving], [refused(update, 1)]);
  const s = byKey.get('BackendTLSPolicy/default/tls')!;
  assert.equal(s.object, update);
  const ancestors = s.status.ancestors as { ancestorRef: { name: string }; conditions: Condition[] }[];
  assert.deepEqual(ancestors.map((a) => a.ancestorRef.name), ['gw']);
  assert.deepEqual(ancestors[0]!.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Accepted', 'False', 'Invalid', 2]]);
  assert.match(ancestors[0]!.conditions[0]!.message, /\(generation 1\) keeps serving$/);
});
