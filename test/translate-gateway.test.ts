// Gateway side: GatewayClass status, listener validation and conflicts, certificates and
// ReferenceGrants, addresses, ListenerSet merge precedence, lastTransitionTime handling,
// and BackendTLSPolicy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PORTICO_SUPPORTED_FEATURES } from '../src/api/features.ts';
import { brief, cond, listenerCond, listenerStatus, parentCond, run, statusOf, tlsFixtures } from './translate-helpers.ts';

test('GatewayClass: Accepted, SupportedVersion, sorted supportedFeatures; foreign classes ignored', () => {
  const r = run(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: other}
spec: {controllerName: example.com/other}
`);
  const s = statusOf(r, 'GatewayClass/portico')!;
  assert.equal(brief(cond(s.conditions, 'Accepted')), 'True/Accepted');
  assert.equal(brief(cond(s.conditions, 'SupportedVersion')), 'True/SupportedVersion');
  assert.equal(cond(s.conditions, 'Accepted')!.observedGeneration, 1);
  const names = (s.supportedFeatures as { name: string }[]).map((f) => f.name);
  assert.deepEqual(names, [...PORTICO_SUPPORTED_FEATURES].sort());
  assert.equal(statusOf(r, 'GatewayClass/other'), undefined);
});

test('listeners: unsupported protocol, hostname/protocol conflicts (no winner inside a Gateway)', () => {
  const r = run(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra, generation: 5}
spec:
  gatewayClassName: portico
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: a2, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: b, port: 80, protocol: HTTP, hostname: b.example.com}
  - {name: t, port: 81, protocol: TCP}
  - {name: h, port: 81, protocol: HTTP}
  - {name: u, port: 81, protocol: UDP}
  - {name: x, port: 82, protocol: SCTP}
`);
  const k = 'Gateway/infra/gw';
  assert.equal(brief(listenerCond(r, k, 'a', 'Conflicted')), 'True/HostnameConflict');
  assert.equal(brief(listenerCond(r, k, 'a2', 'Conflicted')), 'True/HostnameConflict');
  assert.equal(brief(listenerCond(r, k, 'a', 'Accepted')), 'False/HostnameConflict');
  assert.equal(brief(listenerCond(r, k, 'b', 'Accepted')), 'True/Accepted');
  assert.equal(brief(listenerCond(r, k, 't', 'Conflicted')), 'True/ProtocolConflict');
  assert.equal(brief(listenerCond(r, k, 'h', 'Conflicted')), 'True/ProtocolConflict');
  assert.equal(brief(listenerCond(r, k, 'u', 'Accepted')), 'True/Accepted');
  assert.equal(brief(listenerCond(r, k, 'x', 'Accepted')), 'False/UnsupportedProtocol');
  assert.equal(brief(cond(statusOf(r, k)!.conditions, 'Accepted')), 'True/ListenersNotValid');
  assert.equal(cond(statusOf(r, k)!.conditions, 'Accepted')!.observedGeneration, 5);
  const ir = r.ir.gateways[0]!;
  assert.deepEqual(ir.listeners.map((l) => l.source.sectionName), ['b', 'u']);
});

test('listeners: certificate problems and cross-namespace Secrets need a ReferenceGrant', () => {
  const fixtures = tlsFixtures();
  const gw = (ref: Record<string, unknown>) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: other}
spec:
  gatewayClassName: portico
  listeners:
  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [${JSON.stringify(ref)}]}}
`;
  const bad = `
---
apiVersion: v1
kind: Secret
metadata: {name: bad, namespace: other}
type: kubernetes.io/tls
stringData: {tls.crt: "-----BEGIN CERTIFICATE-----\\nnope\\n-----END CERTIFICATE-----\\n", tls.key: nope}
`;
  const grant = `
---
apiVersion: gateway.networking.k8s.io/v1
kind: ReferenceGrant
metadata: {name: g, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: other}]
  to: [{group: "", kind: Secret}]
`;
  const cases: [string, string][] = [
    [gw({ name: 'missing' }), 'False/InvalidCertificateRef'],
    [gw({ name: 'bad' }) + bad, 'False/InvalidCertificateRef'],
    [gw({ kind: 'ConfigMap', name: 'bad' }) + bad, 'False/InvalidCertificateRef'],
    [gw({ name: 'tls-cert', namespace: 'infra' }), 'False/RefNotPermitted'],
    [gw({ name: 'tls-cert', namespace: 'infra' }) + grant, 'True/ResolvedRefs'],
  ];
  for (const [yaml, want] of cases) {
    const r = run(yaml, fixtures);
    assert.equal(brief(listenerCond(r, 'Gateway/other/gw', 'https', 'ResolvedRefs')), want, yaml);
    const live = want === 'True/ResolvedRefs';
    assert.equal(brief(listenerCond(r, 'Gateway/other/gw', 'https', 'Programmed')).startsWith(live ? 'True' : 'False'), true);
    assert.equal(r.ir.gateways.length, live ? 1 : 0);
    if (live) assert.match(r.ir.gateways[0]!.listeners[0]!.tls!.certificates[0]!.certPem, /BEGIN CERTIFICATE/);
  }
});

test('addresses: unsupported type, unusable IP, default addresses in status', () => {
  const gw = (addrs: unknown) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  addresses: ${JSON.stringify(addrs)}
  listeners: [{name: http, port: 80, protocol: HTTP}]
`;
  const k = 'Gateway/infra/gw';
  let r = run(gw([{ type: 'example.com/fake', value: 'x' }]));
  assert.equal(brief(cond(statusOf(r, k)!.conditions, 'Accepted')), 'False/UnsupportedAddress');
  r = run(gw([{ value: '192.0.2.55' }]), [], { localAddresses: ['127.0.0.1'] });
  assert.equal(brief(cond(statusOf(r, k)!.conditions, 'Accepted')), 'True/Accepted');
  assert.equal(brief(cond(statusOf(r, k)!.conditions, 'Programmed')), 'False/AddressNotUsable');
  r = run(gw([{ value: '127.0.0.1' }]), [], { localAddresses: ['127.0.0.1'] });
  assert.deepEqual(statusOf(r, k)!.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
  assert.deepEqual(r.ir.gateways[0]!.addresses, ['127.0.0.1']);
  r = run(gw([]), [], { defaultAddresses: ['10.1.2.3'] });
  assert.deepEqual(statusOf(r, k)!.addresses, [{ type: 'IPAddress', value: '10.1.2.3' }]);
  assert.deepEqual(r.ir.gateways[0]!.addresses, []);
});

test('lastTransitionTime: kept when the status did not change, now when it did', () => {
  const yaml = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: 80, protocol: HTTP}]
`;
  const first = run(yaml);
  const previous = new Map(first.statuses.map((s) => [s.key, s.status as unknown]));
  // Tamper with the previous Programmed status so it "changes".
  const prevGw = structuredClone(previous.get('Gateway/infra/gw')) as { conditions: { type: string; status: string }[] };
  prevGw.conditions.find((c) => c.type === 'Programmed')!.status = 'False';
  previous.set('Gateway/infra/gw', prevGw);
  const second = run(yaml, [], { now: '2026-02-02T00:00:00Z', previous });
  const conds = statusOf(second, 'Gateway/infra/gw')!.conditions;
  assert.equal(cond(conds, 'Accepted')!.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(cond(conds, 'Programmed')!.lastTransitionTime, '2026-02-02T00:00:00Z');
  assert.equal(listenerCond(second, 'Gateway/infra/gw', 'http', 'Accepted')!.lastTransitionTime, '2026-01-01T00:00:00Z');
});

test('ListenerSet: needs allowedListeners; merged after the Gateway, oldest set wins a conflict', () => {
  const r = run(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  allowedListeners: {namespaces: {from: Same}}
  listeners: [{name: http, port: 80, protocol: HTTP, hostname: gw.example.com}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: old, namespace: infra, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  parentRef: {name: gw}
  listeners: [{name: x, port: 80, protocol: HTTP, hostname: x.example.com}, {name: dup, port: 80, protocol: HTTP, hostname: gw.example.com}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: new, namespace: infra, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  parentRef: {name: gw}
  listeners: [{name: x, port: 80, protocol: HTTP, hostname: x.example.com}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: foreign, namespace: elsewhere}
spec:
  parentRef: {name: gw, namespace: infra}
  listeners: [{name: y, port: 80, protocol: HTTP, hostname: y.example.com}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{kind: ListenerSet, name: old, sectionName: x}]
`);
  assert.equal(brief(cond(statusOf(r, 'ListenerSet/infra/old')!.conditions, 'Accepted')), 'True/ListenersNotValid');
  assert.equal(brief(listenerCond(r, 'ListenerSet/infra/old', 'dup', 'Conflicted')), 'True/HostnameConflict');
  assert.equal(brief(listenerCond(r, 'ListenerSet/infra/old', 'x', 'Accepted')), 'True/Accepted');
  assert.equal(brief(cond(statusOf(r, 'ListenerSet/infra/new')!.conditions, 'Accepted')), 'False/ListenersNotValid');
  assert.equal(brief(cond(statusOf(r, 'ListenerSet/infra/new')!.conditions, 'Programmed')), 'False/ListenersNotValid');
  assert.equal(brief(cond(statusOf(r, 'ListenerSet/elsewhere/foreign')!.conditions, 'Accepted')), 'False/NotAllowed');
  assert.equal(statusOf(r, 'Gateway/infra/gw')!.attachedListenerSets, 1);
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/r', 0, 'Accepted')), 'True/Accepted');
  assert.equal(listenerStatus(r, 'ListenerSet/infra/old', 'x')!.attachedRoutes, 1);
  assert.deepEqual(r.ir.gateways[0]!.listeners.map((l) => l.id), ['infra/gw/http', 'infra/listenerset:old/x']);
});

test('BackendTLSPolicy: ancestors per Gateway, oldest wins conflicts, invalid CA marks the backend', () => {
  const yaml = (caName: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: secure, namespace: infra}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: secure, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: p1, namespace: infra, creationTimestamp: "2024-01-01T00:00:00Z", generation: 2}
spec:
  targetRefs: [{group: "", kind: Service, name: secure}]
  validation: {hostname: secure.example.com, caCertificateRefs: [{group: "", kind: ConfigMap, name: ${caName}}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: p2, namespace: infra, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  targetRefs: [{group: "", kind: Service, name: secure}]
  validation: {hostname: other.example.com, wellKnownCACertificates: System}
`;
  const ok = run(yaml('ca-bundle'), tlsFixtures());
  const p1 = statusOf(ok, 'BackendTLSPolicy/infra/p1')!.ancestors as { ancestorRef: unknown; conditions: unknown }[];
  assert.equal(p1.length, 1);
  assert.deepEqual(p1[0]!.ancestorRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra', name: 'gw' });
  assert.equal(brief(cond(p1[0]!.conditions, 'Accepted')), 'True/Accepted');
  assert.equal(cond(p1[0]!.conditions, 'Accepted')!.observedGeneration, 2);
  const p2 = statusOf(ok, 'BackendTLSPolicy/infra/p2')!.ancestors as { conditions: unknown }[];
  assert.equal(brief(cond(p2[0]!.conditions, 'Accepted')), 'False/Conflicted');
  const tls = ok.ir.backends['infra/secure:443']!.tls!;
  assert.equal(tls.sni, 'secure.example.com');
  assert.match(tls.caPem!, /BEGIN CERTIFICATE/);
  assert.equal(tls.invalid, undefined);

  const broken = run(yaml('missing'), tlsFixtures());
  const b1 = statusOf(broken, 'BackendTLSPolicy/infra/p1')!.ancestors as { conditions: unknown }[];
  assert.equal(brief(cond(b1[0]!.conditions, 'Accepted')), 'False/NoValidCACertificate');
  assert.equal(brief(cond(b1[0]!.conditions, 'ResolvedRefs')), 'False/InvalidCACertificateRef');
  assert.equal(broken.ir.backends['infra/secure:443']!.tls!.invalid, true);
});
