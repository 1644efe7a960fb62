// Route attachment reasons, backend resolution (EndpointSlices, target ports, appProtocol,
// ReferenceGrant), rule validation (dropped rules, incompatible filters) and the IR a rule
// without backends produces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brief, listenerStatus, parentCond, run, statusOf } from './translate-helpers.ts';

const GW = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - name: all
    port: 8080
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchExpressions: [{key: team, operator: In, values: [blue]}]}}}
  - {name: tcp, port: 9000, protocol: TCP}
---
apiVersion: v1
kind: Namespace
metadata: {name: blue, labels: {team: blue}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: infra}
spec:
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: h2, port: 81, targetPort: 9001, appProtocol: kubernetes.io/h2c}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: infra, labels: {kubernetes.io/service-name: web}}
ports: [{name: http, port: 8000}, {name: h2, port: 9001}]
endpoints:
- addresses: [10.0.0.2]
- addresses: [10.0.0.1]
- addresses: [10.0.0.3]
  conditions: {ready: false}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: blue}
spec: {ports: [{port: 80}]}
`;

function route(name: string, ns: string, spec: Record<string, unknown>, kind = 'HTTPRoute'): string {
  return '\n---\n' + JSON.stringify({ apiVersion: 'gateway.networking.k8s.io/v1', kind, metadata: { name, namespace: ns, generation: 4 }, spec });
}

test('attachment reasons: NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname, Accepted', () => {
  const r = run(GW
    + route('by-section', 'infra', { parentRefs: [{ name: 'gw', sectionName: 'nope' }] })
    + route('by-port', 'infra', { parentRefs: [{ name: 'gw', port: 1234 }] })
    + route('other-ns', 'red', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'http' }] })
    + route('selected-ns', 'blue', { parentRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'all' }] })
    + route('wrong-kind', 'infra', { parentRefs: [{ name: 'gw', sectionName: 'tcp' }] })
    + route('no-host', 'infra', { parentRefs: [{ name: 'gw', sectionName: 'http' }], hostnames: ['foo.example.org'] })
    + route('ok', 'infra', { parentRefs: [{ name: 'gw' }, { name: 'elsewhere' }], hostnames: ['a.example.com', 'foo.example.org'] }));
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/by-section', 0, 'Accepted')), 'False/NoMatchingParent');
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/by-port', 0, 'Accepted')), 'False/NoMatchingParent');
  assert.equal(brief(parentCond(r, 'HTTPRoute/red/other-ns', 0, 'Accepted')), 'False/NotAllowedByListeners');
  assert.equal(brief(parentCond(r, 'HTTPRoute/blue/selected-ns', 0, 'Accepted')), 'True/Accepted');
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/wrong-kind', 0, 'Accepted')), 'False/NotAllowedByListeners');
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/no-host', 0, 'Accepted')), 'False/NoMatchingListenerHostname');
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/ok', 0, 'Accepted')), 'True/Accepted');
  // Only Portico parents get entries; parentRef echoed with defaults; generation observed.
  const ok = statusOf(r, 'HTTPRoute/infra/ok')!.parents as { parentRef: unknown; controllerName: string }[];
  assert.equal(ok.length, 1);
  assert.deepEqual(ok[0]!.parentRef, { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' });
  assert.equal(ok[0]!.controllerName, 'portico.dev/gateway-controller');
  assert.equal(parentCond(r, 'HTTPRoute/infra/ok', 0, 'Accepted')!.observedGeneration, 4);
  // attachedRoutes counts accepted routes per listener: "ok" on http, "selected-ns" on all (team=blue).
  assert.equal(listenerStatus(r, 'Gateway/infra/gw', 'http')!.attachedRoutes, 1);
  assert.equal(listenerStatus(r, 'Gateway/infra/gw', 'all')!.attachedRoutes, 1);
  // Effective hostname on the wildcard listener: only the intersecting one.
  const http = r.ir.gateways[0]!.listeners.find((l) => l.id === 'infra/gw/http')!;
  assert.deepEqual(http.virtualHosts.map((v) => v.hostname), ['a.example.com']);
});

test('backends: ready endpoints resolved to the target port by port name; appProtocol h2c', () => {
  const r = run(GW + route('r', 'infra', {
    parentRefs: [{ name: 'gw', sectionName: 'http' }],
    rules: [{ backendRefs: [{ name: 'web', port: 80, weight: 3 }, { name: 'web', port: 81 }] }],
  }));
  assert.deepEqual(r.ir.backends['infra/web:80']!.endpoints, [{ address: '10.0.0.1', port: 8000 }, { address: '10.0.0.2', port: 8000 }]);
  assert.equal(r.ir.backends['infra/web:80']!.protocol, 'http1');
  assert.equal(r.ir.backends['infra/web:81']!.protocol, 'h2c');
  assert.deepEqual(r.ir.backends['infra/web:81']!.endpoints.map((e) => e.port), [9001, 9001]);
  const rt = r.ir.gateways[0]!.listeners[0]!.virtualHosts[0]!.routes[0]!;
  assert.deepEqual(rt.backends.map((b) => [b.backendId, b.weight]), [['infra/web:80', 3], ['infra/web:81', 1]]);
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/r', 0, 'ResolvedRefs')), 'True/ResolvedRefs');
});

test('invalid backendRefs: BackendNotFound, InvalidKind, RefNotPermitted; share answered with 500', () => {
  const cases: [unknown, string][] = [
    [{ name: 'missing', port: 80 }, 'False/BackendNotFound'],
    [{ name: 'web', port: 99 }, 'False/BackendNotFound'],
    [{ group: 'example.com', kind: 'Thing', name: 'web', port: 80 }, 'False/InvalidKind'],
    [{ name: 'other', namespace: 'blue', port: 80 }, 'False/RefNotPermitted'],
  ];
  for (const [ref, want] of cases) {
    const r = run(GW + route('r', 'infra', {
      parentRefs: [{ name: 'gw', sectionName: 'http' }],
      rules: [{ backendRefs: [ref, { name: 'web', port: 80 }] }],
    }));
    assert.equal(brief(parentCond(r, 'HTTPRoute/infra/r', 0, 'ResolvedRefs')), want, JSON.stringify(ref));
    assert.equal(brief(parentCond(r, 'HTTPRoute/infra/r', 0, 'Accepted')), 'True/Accepted');
    const rt = r.ir.gateways[0]!.listeners[0]!.virtualHosts[0]!.routes[0]!;
    assert.equal(rt.backends[0]!.invalidStatus, 500);
    assert.equal(rt.backends[0]!.backendId, undefined);
    assert.equal(rt.backends[1]!.backendId, 'infra/web:80');
  }
});

test('cross-namespace backendRef allowed by a ReferenceGrant', () => {
  const grant = `
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: blue}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}]
  to: [{group: "", kind: Service, name: other}]
`;
  const r = run(GW + grant + route('r', 'infra', {
    parentRefs: [{ name: 'gw', sectionName: 'http' }],
    rules: [{ backendRefs: [{ name: 'other', namespace: 'blue', port: 80 }] }],
  }));
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/r', 0, 'ResolvedRefs')), 'True/ResolvedRefs');
  assert.ok(r.ir.backends['blue/other:80']);
});

test('rule without backendRefs answers 500; a redirect rule answers itself', () => {
  const r = run(GW + route('r', 'infra', {
    parentRefs: [{ name: 'gw', sectionName: 'http' }],
    rules: [
      { matches: [{ path: { type: 'Exact', value: '/none' } }] },
      { matches: [{ path: { type: 'Exact', value: '/redirect' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x.example.com', statusCode: 301 } }] },
    ],
  }));
  const routes = r.ir.gateways[0]!.listeners[0]!.virtualHosts[0]!.routes;
  const byPath = Object.fromEntries(routes.map((x) => [x.match.path.value, x]));
  assert.deepEqual(byPath['/none']!.directResponse, { status: 500 });
  assert.equal(byPath['/redirect']!.directResponse, undefined);
  assert.deepEqual(byPath['/redirect']!.filters, [{ type: 'RequestRedirect', statusCode: 301, hostname: 'x.example.com' }]);
  assert.equal(brief(parentCond(r, 'HTTPRoute/infra/r', 0, 'ResolvedRefs')), 'True/ResolvedRefs');
});

test('invalid rules are dropped (PartiallyInvalid); a route with no valid rule is not Accepted', () => {
  const partly = run(GW + route('r', 'infra', {
    parentRefs: [{ name: 'gw', sectionName: 'http' }],
    rules: [
      { matches: [{ path: { type: 'Bogus', value: '/x' } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }], backendRefs: [{ name: 'web', port: 80 }] },
    ],
  }));
  assert.equal(brief(parentCond(partly, 'HTTPRoute/infra/r', 0, 'Accepted')), 'True/Accepted');
  assert.equal(brief(parentCond(partly, 'HTTPRoute/infra/r', 0, 'PartiallyInvalid')), 'True/UnsupportedValue');
  assert.match(String((parentCond(partly, 'HTTPRoute/infra/r', 0, 'PartiallyInvalid') as unknown as { message: string }).message), /^Dropped Rule/);
  assert.equal(partly.ir.gateways[0]!.listeners[0]!.virtualHosts[0]!.routes.length, 1);

  const incompatible = run(GW + route('r', 'infra', {
    parentRefs: [{ name: 'gw', sectionName: 'http' }],
    rules: [{ filters: [
      { type: 'RequestRedirect', requestRedirect: { hostname: 'a.example.com' } },
      { type: 'URLRewrite', urlRewrite: { hostname: 'b.example.com' } },
    ] }],
  }));
  assert.equal(brief(parentCond(incompatible, 'HTTPRoute/infra/r', 0, 'Accepted')), 'False/IncompatibleFilters');
  assert.equal(listenerStatus(incompatible, 'Gateway/infra/gw', 'http')!.attachedRoutes, 0);
  assert.equal(incompatible.ir.gateways[0]!.listeners[0]!.virtualHosts.length, 0);
});

test('TCPRoute attaches to the TCP listener; an HTTPRoute listener refuses it', () => {
  const r = run(GW
    + route('t', 'infra', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] }, 'TCPRoute')
    + route('t2', 'infra', { parentRefs: [{ name: 'gw', sectionName: 'http' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] }, 'TCPRoute'));
  assert.equal(brief(parentCond(r, 'TCPRoute/infra/t', 0, 'Accepted')), 'True/Accepted');
  assert.equal(brief(parentCond(r, 'TCPRoute/infra/t2', 0, 'Accepted')), 'False/NotAllowedByListeners');
  const tcp = r.ir.gateways[0]!.listeners.find((l) => l.protocol === 'TCP')!;
  assert.equal(tcp.l4Routes.length, 1);
  assert.equal(tcp.l4Routes[0]!.backends[0]!.backendId, 'infra/web:80/tcp');
  assert.equal(r.ir.backends['infra/web:80/tcp']!.protocol, 'tcp');
});
