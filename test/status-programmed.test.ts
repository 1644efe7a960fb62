import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition } from '../src/api/meta.ts';
import type { IR, IRListener } from '../src/ir/types.ts';
import { gateProgrammed, splitHostPort } from '../src/status/programmed.ts';
import type { OwnedStatus } from '../src/translate/index.ts';

const T0 = '2026-01-01T00:00:00Z';
const NOW = '2026-01-01T00:01:00Z';

const cond = (type: string, status: Condition['status'], reason: string): Condition =>
  ({ type, status, reason, message: '', observedGeneration: 1, lastTransitionTime: T0 });

function gatewayStatus(name: string, listeners: string[]): OwnedStatus {
  return {
    key: `Gateway/infra/${name}`,
    object: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: 'infra', generation: 1 } },
    status: {
      conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')],
      listeners: listeners.map((l) => ({ name: l, attachedRoutes: 0, supportedKinds: [], conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')] })),
    },
  };
}

function listenerSetStatus(): OwnedStatus {
  return {
    key: 'ListenerSet/team-a/ls',
    object: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ListenerSet', metadata: { name: 'ls', namespace: 'team-a', generation: 1 } },
    status: {
      conditions: [cond('Accepted', 'True', 'Accepted'), cond('Programmed', 'True', 'Programmed')],
      listeners: [{ name: 'extra', attachedRoutes: 0, supportedKinds: [], conditions: [cond('Programmed', 'True', 'Programmed')] }],
    },
  };
}

const routeStatus: OwnedStatus = {
  key: 'HTTPRoute/team-a/r',
  object: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'team-a' } },
  status: { parents: [] },
};

function listener(kind: string, ns: string, name: string, section: string, port: number): IRListener {
  return { source: { kind, namespace: ns, name, sectionName: section }, id: `${ns}/${name}/${section}`, port, protocol: 'HTTP', virtualHosts: [], l4Routes: [] };
}

const ir: IR = {
  generation: 3,
  backends: {},
  gateways: [
    { source: { kind: 'Gateway', namespace: 'infra', name: 'shared' }, addresses: [], listeners: [listener('Gateway', 'infra', 'shared', 'http', 8080), listener('Gateway', 'infra', 'shared', 'alt', 8081), listener('ListenerSet', 'team-a', 'ls', 'extra', 8082)] },
    { source: { kind: 'Gateway', namespace: 'infra', name: 'other' }, addresses: ['127.0.0.2'], listeners: [listener('Gateway', 'infra', 'other', 'http', 8080)] },
  ],
};

const statuses = [gatewayStatus('shared', ['http', 'alt']), gatewayStatus('other', ['http']), listenerSetStatus(), routeStatus];

function programmed(s: OwnedStatus, listenerName?: string): Condition {
  const st = s.status as { conditions: Condition[]; listeners: { name: string; conditions: Condition[] }[] };
  const list = listenerName === undefined ? st.conditions : st.listeners.find((l) => l.name === listenerName)!.conditions;
  return list.find((c) => c.type === 'Programmed')!;
}

test('before the data plane applied the generation, Programmed is False/Pending everywhere', () => {
  for (const live of [undefined, { generation: 2, bindErrors: {} }]) {
    const out = gateProgrammed(statuses, ir, live, { now: NOW });
    for (const s of out.slice(0, 3)) {
      assert.equal(programmed(s).status, 'False');
      assert.equal(programmed(s).reason, 'Pending');
      assert.equal(programmed(s).lastTransitionTime, NOW);
      assert.equal(programmed(s).observedGeneration, 1);
    }
    assert.equal(programmed(out[0], 'http').reason, 'Pending');
    assert.equal(programmed(out[2], 'extra').reason, 'Pending');
    assert.equal(out[3], routeStatus, 'routes are untouched');
  }
  assert.equal(programmed(statuses[0]).status, 'True', 'the input is not mutated');
});

test('while the data plane is behind, only the objects whose configuration changed are Pending', () => {
  const out = gateProgrammed(statuses, ir, { generation: 2, bindErrors: { '127.0.0.2:8080': 'EADDRINUSE' } }, { now: NOW, changed: new Set(['Gateway/infra/shared']) });
  assert.equal(programmed(out[0]).reason, 'Pending');
  assert.equal(programmed(out[0], 'http').reason, 'Pending');
  assert.equal(programmed(out[1]).reason, 'AddressNotUsable', 'unchanged: as live, bind errors included');
  assert.equal(programmed(out[2]).status, 'True', 'the ListenerSet did not change');
  const none = gateProgrammed(statuses, ir, undefined, { now: NOW, changed: new Set() });
  assert.equal(programmed(none[1]).reason, 'Pending', 'nothing is live yet: everything is Pending');
});

test('once applied, translate says what is programmed', () => {
  const out = gateProgrammed(statuses, ir, { generation: 3, bindErrors: {} }, { now: NOW });
  assert.deepEqual(out, statuses);
});

test('bind errors make the affected listeners (and fully unbound objects) not Programmed', () => {
  const out = gateProgrammed(statuses, ir, { generation: 3, bindErrors: { '0.0.0.0:8081': 'EADDRINUSE', '0.0.0.0:8082': 'EACCES' } }, { now: NOW });
  assert.equal(programmed(out[0], 'http').status, 'True');
  assert.equal(programmed(out[0], 'alt').status, 'False');
  assert.equal(programmed(out[0], 'alt').reason, 'Invalid');
  assert.match(programmed(out[0], 'alt').message, /0\.0\.0\.0:8081: EADDRINUSE/);
  assert.equal(programmed(out[0]).status, 'True', 'one listener of two is still live');
  assert.equal(programmed(out[1]).status, 'True', 'the other gateway binds 127.0.0.2');
  assert.equal(programmed(out[2], 'extra').reason, 'PortUnavailable');
  assert.equal(programmed(out[2]).reason, 'PortUnavailable');

  const all = gateProgrammed(statuses, ir, { generation: 3, bindErrors: { '127.0.0.2:8080': 'EADDRNOTAVAIL' } }, { now: NOW });
  assert.equal(programmed(all[1]).status, 'False');
  assert.equal(programmed(all[1]).reason, 'AddressNotUsable');
  assert.equal(programmed(all[0]).status, 'True');
});

test('UDP bind errors ("udp/address:port") only concern UDP listeners on that port', () => {
  const udpIR: IR = { ...ir, gateways: [{ ...ir.gateways[0], listeners: [listener('Gateway', 'infra', 'shared', 'http', 8080), { ...listener('Gateway', 'infra', 'shared', 'alt', 8080), protocol: 'UDP' }] }] };
  const out = gateProgrammed(statuses, udpIR, { generation: 3, bindErrors: { 'udp/0.0.0.0:8080': 'EADDRINUSE' } }, { now: NOW });
  assert.equal(programmed(out[0], 'http').status, 'True');
  assert.equal(programmed(out[0], 'alt').status, 'False');
  assert.match(programmed(out[0], 'alt').message, /udp\/0\.0\.0\.0:8080: EADDRINUSE/);
});

test('conditions translate already set to False keep their reason', () => {
  const s = gatewayStatus('shared', ['http']);
  const c = programmed(s);
  c.status = 'False';
  c.reason = 'Invalid';
  const out = gateProgrammed([s], ir, undefined, { now: NOW });
  assert.equal(programmed(out[0]).reason, 'Invalid');
});

test('splitHostPort', () => {
  assert.deepEqual(splitHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(splitHostPort('::1:80'), { host: '::1', port: 80 });
  assert.deepEqual(splitHostPort(':80'), { host: '', port: 80 });
});
