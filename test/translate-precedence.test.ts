// Route precedence in the IR: the spec's order for HTTPRoute matches, hostname specificity
// first across virtual hosts, and determinism: any permutation of the snapshot's objects
// gives the identical IR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../src/api/meta.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { translate } from '../src/translate/index.ts';
import { CLASS, NOW, parseObjects } from './translate-helpers.ts';

const GATEWAY = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
`;

function route(name: string, ns: string, created: string, rules: unknown[], hostnames?: string[]): string {
  return JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
    metadata: { name, namespace: ns, creationTimestamp: created },
    spec: { parentRefs: [{ name: 'gw', namespace: 'infra' }], ...(hostnames ? { hostnames } : {}), rules },
  });
}

const ROUTES = [
  route('prefix-short', 'a', '2024-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }]),
  route('prefix-long', 'a', '2024-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/api/v1' } }] }]),
  route('exact', 'b', '2024-06-01T00:00:00Z', [{ matches: [{ path: { type: 'Exact', value: '/' } }] }]),
  route('method', 'c', '2024-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/api/v1' }, method: 'GET' }] }]),
  route('headers', 'c', '2024-01-02T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/api/v1' }, headers: [{ name: 'X-A', value: '1' }, { name: 'x-b', value: '2' }] }] }]),
  route('query', 'c', '2024-01-03T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/api/v1' }, headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '2' }], queryParams: [{ name: 'q', value: '1' }] }] }]),
  route('older-twin', 'z', '2023-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/twin' } }] }]),
  route('newer-twin', 'a', '2025-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/twin' } }] }]),
  route('same-age-b', 'n', '2024-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/same' } }] }]),
  route('same-age-a', 'n', '2024-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/same' } }, { path: { type: 'PathPrefix', value: '/same' } }] }]),
  route('host-exact', 'h', '2025-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }], ['foo.example.com']),
  route('host-wild', 'h', '2020-01-01T00:00:00Z', [{ matches: [{ path: { type: 'Exact', value: '/w' } }] }], ['*.example.com']),
];

function objects(): KubeObject[] {
  return parseObjects([CLASS, GATEWAY, ...ROUTES].join('\n---\n'));
}

function irOf(objs: KubeObject[]) {
  return translate(buildSnapshot(objs, 1), { now: NOW }).ir;
}

function names(hostname: string): string[] {
  const ir = irOf(objects());
  const vh = ir.gateways[0]!.listeners[0]!.virtualHosts.find((v) => v.hostname === hostname)!;
  return vh.routes.map((r) => `${r.source.name}#${r.source.rule}.${r.source.match ?? '-'}`);
}

test('HTTP precedence: exact, longest prefix, method, headers, query, age, name, rule/match order', () => {
  assert.deepEqual(names('*'), [
    'exact#0.0',
    // Same prefix /api/v1: a method match beats any header count; more headers, then more query params.
    'method#0.0', 'query#0.0', 'headers#0.0', 'prefix-long#0.0',
    // Same prefix length (5): oldest first, then namespace/name, then rule and match order.
    'older-twin#0.0', 'same-age-a#0.0', 'same-age-a#0.1', 'same-age-b#0.0', 'newer-twin#0.0',
    'prefix-short#0.0',
  ]);
});

test('virtual hosts: most specific first; routes of covering hostnames follow the own routes', () => {
  const ir = irOf(objects());
  const hosts = ir.gateways[0]!.listeners[0]!.virtualHosts.map((v) => v.hostname);
  assert.deepEqual(hosts, ['foo.example.com', '*.example.com', '*']);
  const foo = names('foo.example.com');
  // The exact-host route comes first even though the wildcard route is older and has an Exact path.
  assert.equal(foo[0], 'host-exact#0.0');
  assert.equal(foo[1], 'host-wild#0.0');
  assert.equal(foo[2], 'exact#0.0');
  assert.equal(foo.length, 2 + names('*').length);
});

function shuffle<T>(a: T[], seed: number): T[] {
  let s = seed;
  const out = [...a];
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('property: any permutation of the snapshot gives byte-identical IR and status', () => {
  const reference = translate(buildSnapshot(objects(), 1), { now: NOW });
  const refIR = JSON.stringify(reference.ir);
  const refStatus = JSON.stringify(reference.statuses.map((s) => [s.key, s.status]));
  for (let seed = 1; seed <= 40; seed++) {
    const r = translate(buildSnapshot(shuffle(objects(), seed), 1), { now: NOW });
    assert.equal(JSON.stringify(r.ir), refIR, `IR differs for permutation ${seed}`);
    assert.equal(JSON.stringify(r.statuses.map((s) => [s.key, s.status])), refStatus, `status differs for permutation ${seed}`);
  }
});

test('gRPC matches become path matches: exact service/method first, then service prefix', () => {
  const grpc = JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute',
    metadata: { name: 'g', namespace: 'infra' },
    spec: {
      parentRefs: [{ name: 'gw' }],
      rules: [
        { matches: [{ method: { service: 'pkg.Svc' } }] },
        { matches: [{ method: { service: 'pkg.Svc', method: 'Get' } }] },
        { matches: [{ method: { type: 'RegularExpression', service: 'pkg\\..*' } }] },
      ],
    },
  });
  const ir = irOf(parseObjects([CLASS, GATEWAY, grpc].join('\n---\n')));
  const routes = ir.gateways[0]!.listeners[0]!.virtualHosts[0]!.routes;
  assert.deepEqual(routes.map((r) => [r.kind, r.match.path.type, r.match.path.value]), [
    ['grpc', 'Exact', '/pkg.Svc/Get'],
    ['grpc', 'RegularExpression', '/(pkg\\..*)/([^/]+)'],
    ['grpc', 'PathPrefix', '/pkg.Svc'],
  ]);
  // No backendRefs: every rule answers 500.
  assert.ok(routes.every((r) => r.directResponse?.status === 500));
});
