// The upstream GRPCRoute conformance scenarios (conformance/tests/grpcroute-*.go), reproduced with
// our own manifests through translate() and the data plane, with real grpc-js clients and three
// real gRPC backends: GRPCExactMethodMatching, GRPCRouteHeaderMatching,
// GRPCRouteListenerHostnameMatching, GRPCRouteWeight and GRPCRouteNamedRule.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { freePort } from './support/client.ts';
import { ConformanceClient, startGrpcEcho, unary, type GrpcEcho } from './support/grpc-echo.ts';
import { localServiceYaml } from './support/manifests.ts';
import { cond, run, statusOf } from './translate-helpers.ts';

const NS = 'gateway-conformance-infra';
let backends: GrpcEcho[] = [];
let dp: DataPlane;
let port: number;
let generation = 0;
const clients: grpc.Client[] = [];

before(async () => {
  backends = await Promise.all(['v1', 'v2', 'v3'].map((v) => startGrpcEcho(`grpc-infra-backend-${v}`)));
  port = await freePort();
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1', debugHeaders: true });
});

after(async () => {
  for (const c of clients) c.close();
  await dp?.close();
  await Promise.all(backends.map((b) => b.close()));
});

/** Namespace, the three backend Services (port 8080 → the backend's real port) and their EndpointSlices. */
function infra(): string {
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}`];
  for (const b of backends) docs.push(localServiceYaml(b.name, 8080, b.port, { namespace: NS }));
  return docs.join('\n---\n');
}

const sameNamespaceGateway = () => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: ${port}, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}`;

/** Translates the scenario, checks its routes are Accepted, and makes its IR live. */
async function scenario(yamlText: string, routes: string[]): Promise<void> {
  const result = run(`${infra()}\n---\n${yamlText}`);
  for (const name of routes) {
    const st = statusOf(result, `GRPCRoute/${NS}/${name}`) as { parents?: { conditions: unknown }[] } | undefined;
    assert.ok(st?.parents?.length, `${name} has parent statuses`);
    for (const p of st.parents) {
      assert.equal(cond(p.conditions, 'Accepted')?.status, 'True', `${name} Accepted`);
      assert.equal(cond(p.conditions, 'ResolvedRefs')?.status, 'True', `${name} ResolvedRefs`);
    }
  }
  const applied = await dp.apply({ ...result.ir, generation: ++generation });
  assert.deepEqual(applied.bindErrors, {});
}

function client(authority?: string): grpc.Client {
  const c = new ConformanceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), authority ? { 'grpc.default_authority': authority } : {});
  clients.push(c);
  return c;
}

/** Calls `method` and returns the serving backend's name, or the status code when the call failed. */
async function served(c: grpc.Client, method: 'Echo' | 'EchoTwo' | 'EchoThree', metadata?: Record<string, string>): Promise<string | number> {
  const r = await unary(c, method, {}, { metadata });
  if (r.error) return r.error.code;
  assert.equal(r.reply.method, `/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/${method}`);
  return r.reply.name as string;
}

const V1 = 'grpc-infra-backend-v1';
const V2 = 'grpc-infra-backend-v2';
const V3 = 'grpc-infra-backend-v3';
const SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';

test('GRPCExactMethodMatching: Echo → v1, EchoTwo → v2, EchoThree UNIMPLEMENTED', async () => {
  await scenario(`${sameNamespaceGateway()}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: exact-matching, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{method: {service: ${SERVICE}, method: Echo}}]
    backendRefs: [{name: ${V1}, port: 8080}]
  - matches: [{method: {service: ${SERVICE}, method: EchoTwo}}]
    backendRefs: [{name: ${V2}, port: 8080}]`, ['exact-matching']);
  const c = client();
  assert.equal(await served(c, 'Echo'), V1);
  assert.equal(await served(c, 'EchoTwo'), V2);
  assert.equal(await served(c, 'EchoThree'), grpc.status.UNIMPLEMENTED);
});

test('GRPCRouteHeaderMatching: ANDed headers within a match, ORed matches, first rule by precedence', async () => {
  await scenario(`${sameNamespaceGateway()}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc-header-matching, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{headers: [{name: version, value: one}]}]
    backendRefs: [{name: ${V1}, port: 8080}]
  - matches: [{headers: [{name: version, value: two}]}]
    backendRefs: [{name: ${V2}, port: 8080}]
  - matches: [{headers: [{name: version, value: two}, {name: color, value: orange}]}]
    backendRefs: [{name: ${V1}, port: 8080}]
  - matches: [{headers: [{name: color, value: blue}]}, {headers: [{name: color, value: green}]}]
    backendRefs: [{name: ${V1}, port: 8080}]
  - matches: [{headers: [{name: color, value: red}]}, {headers: [{name: color, value: yellow}]}]
    backendRefs: [{name: ${V2}, port: 8080}]`, ['grpc-header-matching']);
  const c = client();
  const cases: [Record<string, string>, string | number][] = [
    [{ Version: 'one' }, V1],
    [{ Version: 'two' }, V2],
    [{ Version: 'two', Color: 'orange' }, V1],
    [{ Version: 'two', Color: 'blue' }, V2],
    [{ Color: 'orange' }, grpc.status.UNIMPLEMENTED],
    [{ 'Some-Other-Header': 'one' }, grpc.status.UNIMPLEMENTED],
    [{ Color: 'blue' }, V1],
    [{ Color: 'green' }, V1],
    [{ Color: 'red' }, V2],
    [{ Color: 'yellow' }, V2],
    [{ Color: 'purple' }, grpc.status.UNIMPLEMENTED],
  ];
  for (const [md, want] of cases) assert.equal(await served(c, 'Echo', md), want, JSON.stringify(md));
});

test('GRPCRouteListenerHostnameMatching: listeners on one port told apart by :authority', async () => {
  const gw = 'grpcroute-listener-hostname-matching';
  const routeTo = (name: string, sections: string[], backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [${sections.map((s) => `{name: ${gw}, namespace: ${NS}, sectionName: ${s}}`).join(', ')}]
  rules: [{backendRefs: [{name: ${backend}, port: 8080}]}]`;
  await scenario(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${gw}, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
  - {name: listener-1, port: ${port}, protocol: HTTP, hostname: bar.com, allowedRoutes: {namespaces: {from: Same}}}
  - {name: listener-2, port: ${port}, protocol: HTTP, hostname: foo.bar.com, allowedRoutes: {namespaces: {from: Same}}}
  - {name: listener-3, port: ${port}, protocol: HTTP, hostname: "*.bar.com", allowedRoutes: {namespaces: {from: Same}}}
  - {name: listener-4, port: ${port}, protocol: HTTP, hostname: "*.foo.com", allowedRoutes: {namespaces: {from: Same}}}
---
${routeTo('backend-v1', ['listener-1'], V1)}
---
${routeTo('backend-v2', ['listener-2'], V2)}
---
${routeTo('backend-v3', ['listener-3', 'listener-4'], V3)}`, ['backend-v1', 'backend-v2', 'backend-v3']);
  const cases: [string, string | number][] = [
    ['bar.com', V1],
    ['foo.bar.com', V2],
    ['baz.bar.com', V3],
    ['boo.bar.com', V3],
    ['multiple.prefixes.bar.com', V3],
    ['multiple.prefixes.foo.com', V3],
    ['foo.com', grpc.status.UNIMPLEMENTED],
    ['no.matching.host', grpc.status.UNIMPLEMENTED],
  ];
  for (const [authority, want] of cases) assert.equal(await served(client(authority), 'Echo'), want, authority);
});

test('GRPCRouteWeight: 70/30/0 split across backends', async () => {
  await scenario(`${sameNamespaceGateway()}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: weighted-backends, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - backendRefs:
    - {name: ${V1}, port: 8080, weight: 70}
    - {name: ${V2}, port: 8080, weight: 30}
    - {name: ${V3}, port: 8080, weight: 0}`, ['weighted-backends']);
  const c = client();
  const counts = new Map<string | number, number>();
  const total = 400;
  for (let i = 0; i < total; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => served(c, 'Echo')));
    for (const who of batch) counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  const share = (k: string) => (counts.get(k) ?? 0) / total;
  assert.deepEqual([...counts.keys()].filter((k) => k !== V1 && k !== V2), [], 'only v1 and v2 answer, every call OK');
  assert.ok(Math.abs(share(V1) - 0.7) < 0.08, `v1 share ${share(V1)}`);
  assert.ok(Math.abs(share(V2) - 0.3) < 0.08, `v2 share ${share(V2)}`);
  assert.equal(share(V3), 0);
});

test('GRPCRouteNamedRule: named and unnamed rules route; the rule name reaches the data plane', async () => {
  await scenario(`${sameNamespaceGateway()}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: grpc-named-rules, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - name: named-rule
    matches: [{method: {service: ${SERVICE}, method: Echo}}]
    backendRefs: [{name: ${V1}, port: 8080}]
  - matches: [{method: {service: ${SERVICE}, method: EchoTwo}}]
    backendRefs: [{name: ${V2}, port: 8080}]`, ['grpc-named-rules']);
  const c = client();
  const one = await unary(c, 'Echo', {});
  assert.equal(one.reply?.name, V1);
  assert.deepEqual(one.headers?.get('x-portico-route'), [`${NS}/grpc-named-rules/named-rule`]);
  const two = await unary(c, 'EchoTwo', {});
  assert.equal(two.reply?.name, V2);
  assert.deepEqual(two.headers?.get('x-portico-route'), [`${NS}/grpc-named-rules/1`]);
});
