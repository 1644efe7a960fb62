// XBackendTrafficPolicy: status ancestors per Portico Gateway using a targeted Service, the
// oldest policy wins a conflict, invalid values are reported and change nothing, and an
// accepted policy's retry budget and session persistence land on the IR backend clusters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brief, cond, run, statusOf } from './translate-helpers.ts';

const BASE = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: unused, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
`;

type Ancestor = { ancestorRef: unknown; controllerName: string; conditions: unknown };

function policy(name: string, created: string, spec: string, target = 'web'): string {
  return `
---
apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XBackendTrafficPolicy
metadata: {name: ${name}, namespace: infra, creationTimestamp: "${created}", generation: 3}
spec:
  targetRefs: [{group: "", kind: Service, name: ${target}}]
${spec}`;
}

test('XBackendTrafficPolicy: ancestors, defaults and the IR backend settings', () => {
  const r = run(BASE + policy('p', '2024-01-01T00:00:00Z', `  retryConstraint: {budget: {percent: 30}}
  sessionPersistence: {sessionName: sticky, type: Cookie, absoluteTimeout: 1h}`));
  const ancestors = statusOf(r, 'XBackendTrafficPolicy/infra/p')!.ancestors as Ancestor[];
  assert.equal(ancestors.length, 1);
  assert.deepEqual(ancestors[0]!.ancestorRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra', name: 'gw' });
  assert.equal(ancestors[0]!.controllerName, 'portico.dev/gateway-controller');
  assert.equal(brief(cond(ancestors[0]!.conditions, 'Accepted')), 'True/Accepted');
  assert.equal(cond(ancestors[0]!.conditions, 'Accepted')!.observedGeneration, 3);
  const b = r.ir.backends['infra/web:80']!;
  assert.deepEqual(b.retryBudget, { percent: 30, intervalMs: 10_000, minRetryRate: { count: 10, intervalMs: 1000 } });
  assert.deepEqual(b.sessionPersistence, { type: 'Cookie', name: 'sticky', absoluteTimeoutMs: 3_600_000 });
  assert.deepEqual(b.trafficPolicy, { kind: 'XBackendTrafficPolicy', namespace: 'infra', name: 'p' });
});

test('XBackendTrafficPolicy: the oldest wins a conflict; a policy on an unused Service has no status', () => {
  const r = run(BASE
    + policy('new', '2025-01-01T00:00:00Z', '  retryConstraint: {budget: {percent: 50}}')
    + policy('old', '2024-01-01T00:00:00Z', '  retryConstraint: {budget: {percent: 10}}')
    + policy('elsewhere', '2024-01-01T00:00:00Z', '  retryConstraint: {}', 'unused'));
  const old = statusOf(r, 'XBackendTrafficPolicy/infra/old')!.ancestors as Ancestor[];
  const newer = statusOf(r, 'XBackendTrafficPolicy/infra/new')!.ancestors as Ancestor[];
  assert.equal(brief(cond(old[0]!.conditions, 'Accepted')), 'True/Accepted');
  assert.equal(brief(cond(newer[0]!.conditions, 'Accepted')), 'False/Conflicted');
  assert.equal(r.ir.backends['infra/web:80']!.retryBudget!.percent, 10);
  assert.equal(statusOf(r, 'XBackendTrafficPolicy/infra/elsewhere'), undefined);
});

test('XBackendTrafficPolicy: invalid values are reported (Invalid) and change nothing', () => {
  for (const spec of [
    '  retryConstraint: {budget: {interval: 500ms}}',
    '  retryConstraint: {budget: {percent: 101}}',
    '  retryConstraint: {minRetryRate: {count: 0}}',
    '  sessionPersistence: {type: Magic}',
  ]) {
    const r = run(BASE + policy('p', '2024-01-01T00:00:00Z', spec));
    const ancestors = statusOf(r, 'XBackendTrafficPolicy/infra/p')!.ancestors as Ancestor[];
    assert.equal(brief(cond(ancestors[0]!.conditions, 'Accepted')), 'False/Invalid', spec);
    const b = r.ir.backends['infra/web:80']!;
    assert.equal(b.retryBudget, undefined, spec);
    assert.equal(b.sessionPersistence, undefined, spec);
  }
});
