// The upstream HTTPRoute conformance scenarios that check traffic (conformance/tests/httproute-*.go),
// reproduced with our own manifests through translate() and the data plane, against three real
// echo backend processes (infra-backend-v1..v3). Table driven: each entry is one upstream test,
// its YAML (namespace gateway-conformance-infra, Gateway `same-namespace` on a free port) and the
// requests with what the upstream test expects of them.
//
// Already covered one-to-one elsewhere: GatewayHTTPListenerIsolation (test/golden-incremental.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { localServiceYaml } from './support/manifests.ts';
import { cond, run, statusOf } from './translate-helpers.ts';

const NS = 'gateway-conformance-infra';
const NAMES = ['infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3'];
let backends: EchoBackend[] = [];
let dp: DataPlane;
let port: number;
let generation = 0;

before(async () => {
  backends = await Promise.all(NAMES.map((n) => startEcho(n)));
  port = await freePort();
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
});

after(async () => {
  await dp?.close();
  await Promise.all(backends.map((b) => b.close()));
});

/** Namespace, the Gateway `same-namespace` and the three backend Services with their EndpointSlices. */
function infra(): string {
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}`, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: ${port}, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}`];
  for (const b of backends) docs.push(localServiceYaml(b.name, 8080, b.port, { namespace: NS }));
  return docs.join('\n---\n');
}

/** `{name: infra-backend-vN, port: 8080}` (plus extra fields). */
const be = (v: 1 | 2 | 3, extra = '') => `{name: infra-backend-v${v}, port: 8080${extra ? `, ${extra}` : ''}}`;

/** An HTTPRoute on `same-namespace`; `rules` is the YAML list under rules:, `spec` extra spec lines. */
function route(name: string, rules: string, spec = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
${spec ? `  ${spec}\n` : ''}  rules:
${rules.trim().split('\n').map((l) => `  ${l.trim() === '' ? '' : l}`).join('\n')}`;
}

interface Case {
  path: string;
  host?: string;
  method?: string;
  headers?: Record<string, string>;
  /** The backend (1..3) that must answer, or … */
  backend?: 1 | 2 | 3;
  /** … the status the gateway answers with (404, 500, 30x). */
  status?: number;
  location?: string;
  /** Response headers expected (null: absent). */
  response?: Record<string, string | null>;
  /** Headers the backend must have received (null: absent). */
  seen?: Record<string, string | null>;
  seenPath?: string;
  seenHost?: string;
}

interface Scenario {
  name: string;
  yaml: () => string;
  routes: string[];
  cases: Case[];
}

/** Translates the scenario, checks its routes are Accepted, and makes its IR live. */
async function apply(s: Scenario): Promise<void> {
  const result = run(`${infra()}\n---\n${s.yaml()}`);
  for (const name of s.routes) {
    const st = statusOf(result, `HTTPRoute/${NS}/${name}`) as { parents?: { conditions: unknown }[] } | undefined;
    assert.ok(st?.parents?.length, `${name} has parent statuses`);
    for (const p of st.parents) assert.equal(cond(p.conditions, 'Accepted')?.status, 'True', `${name} Accepted`);
  }
  const applied = await dp.apply({ ...result.ir, generation: ++generation });
  assert.deepEqual(applied.bindErrors, {});
}

async function check(c: Case): Promise<void> {
  const what = `${c.method ?? 'GET'} ${c.host ?? 'example.com'}${c.path} ${JSON.stringify(c.headers ?? {})}`;
  const r = await request(port, c.path, { host: c.host ?? 'example.com', method: c.method, headers: c.headers });
  if (c.backend !== undefined) {
    assert.equal(r.status, 200, `${what}: status`);
    const body = r.json();
    assert.equal(body.name, NAMES[c.backend - 1], `${what}: backend`);
    for (const [k, v] of Object.entries(c.seen ?? {})) {
      const got = body.headers[k.toLowerCase()];
      assert.equal(Array.isArray(got) ? got.join(',') : got ?? null, v, `${what}: backend saw ${k}`);
    }
    if (c.seenPath !== undefined) assert.equal(body.path, c.seenPath, `${what}: backend path`);
    if (c.seenHost !== undefined) assert.equal(body.host, c.seenHost, `${what}: backend host`);
  }
  if (c.status !== undefined) assert.equal(r.status, c.status, `${what}: status`);
  if (c.location !== undefined) assert.equal(r.headers.location, c.location, `${what}: location`);
  for (const [k, v] of Object.entries(c.response ?? {})) {
    const got = r.headers[k.toLowerCase()];
    assert.equal(Array.isArray(got) ? got.join(',') : got ?? null, v, `${what}: response ${k}`);
  }
}

/** Shorthand: a request routed to backend `v`. */
const to = (path: string, v: 1 | 2 | 3, extra: Partial<Case> = {}): Case => ({ path, backend: v, ...extra });
/** Shorthand: a request answered by the gateway with `status`. */
const answered = (path: string, status: number, extra: Partial<Case> = {}): Case => ({ path, status, ...extra });
const hdr = (headers: Record<string, string>, extra: Partial<Case> = {}): Partial<Case> => ({ headers, ...extra });

const scenarios: Scenario[] = [
  {
    name: 'HTTPRouteMatching',
    routes: ['matching'],
    yaml: () => route('matching', `
- matches: [{path: {type: PathPrefix, value: /}}, {headers: [{name: version, value: one}]}]
  backendRefs: [${be(1)}]
- matches: [{path: {type: PathPrefix, value: /v2}}, {headers: [{name: version, value: two}]}]
  backendRefs: [${be(2)}]`),
    cases: [
      to('/', 1), to('/example', 1), to('/', 1, hdr({ Version: 'one' })), to('/v2', 2), to('/v2/example', 2),
      to('/', 2, hdr({ Version: 'two' })), to('/v2/', 2), to('/v2example', 1), to('/foo/v2/example', 1),
    ],
  },
  {
    name: 'HTTPRouteMatchingAcrossRoutes',
    routes: ['matching-part1', 'matching-part2'],
    yaml: () => `${route('matching-part1', `
- matches: [{path: {type: PathPrefix, value: /}}, {headers: [{name: version, value: one}]}]
  backendRefs: [${be(1)}]`, 'hostnames: [example.com, example.net]')}
---
${route('matching-part2', `
- matches: [{path: {type: PathPrefix, value: /v2}}, {headers: [{name: version, value: two}]}]
  backendRefs: [${be(2)}]`, 'hostnames: [example.com]')}`,
    cases: [
      to('/', 1), to('/example', 1), to('/example', 1, { host: 'example.net' }), to('/example', 1, hdr({ Version: 'one' })),
      to('/v2', 2), to('/v2', 1, { host: 'example.net' }), to('/v2/example', 2), to('/', 2, hdr({ Version: 'two' })),
    ],
  },
  {
    name: 'HTTPRoutePathMatchOrder',
    routes: ['path-matching-order'],
    yaml: () => route('path-matching-order', `
- {matches: [{path: {type: Exact, value: /match}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: Exact, value: /match/exact}}], backendRefs: [${be(2)}]}
- {matches: [{path: {type: Exact, value: /match/exact/one}}], backendRefs: [${be(3)}]}
- {matches: [{path: {type: PathPrefix, value: /match/}}], backendRefs: [${be(3)}]}
- {matches: [{path: {type: PathPrefix, value: /match/prefix/}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /match/prefix/one}}], backendRefs: [${be(2)}]}`),
    cases: [
      to('/match/exact/one', 3), to('/match/exact', 2), to('/match', 1), to('/match/prefix/one/any', 2),
      to('/match/prefix/any', 1), to('/match/any', 3),
    ],
  },
  {
    name: 'HTTPRouteExactPathMatching',
    routes: ['exact-matching'],
    yaml: () => route('exact-matching', `
- {matches: [{path: {type: Exact, value: /one}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: Exact, value: /two}}], backendRefs: [${be(2)}]}`),
    cases: [to('/one', 1), to('/two', 2), answered('/', 404), answered('/one/example', 404), answered('/two/', 404), answered('/Two', 404)],
  },
  {
    name: 'HTTPRouteHeaderMatching',
    routes: ['header-matching'],
    yaml: () => route('header-matching', `
- {matches: [{headers: [{name: version, value: one}]}], backendRefs: [${be(1)}]}
- {matches: [{headers: [{name: version, value: two}]}], backendRefs: [${be(2)}]}
- {matches: [{headers: [{name: version, value: two}, {name: color, value: orange}]}], backendRefs: [${be(1)}]}
- {matches: [{headers: [{name: color, value: blue}]}, {headers: [{name: color, value: green}]}], backendRefs: [${be(1)}]}
- {matches: [{headers: [{name: color, value: red}]}, {headers: [{name: color, value: yellow}]}], backendRefs: [${be(2)}]}`),
    cases: [
      to('/', 1, hdr({ Version: 'one' })), to('/', 2, hdr({ Version: 'two' })), to('/', 1, hdr({ Version: 'two', Color: 'orange' })),
      to('/', 2, hdr({ Version: 'two', Color: 'blue' })), answered('/', 404, hdr({ Color: 'orange' })),
      answered('/', 404, hdr({ 'Some-Other-Header': 'one' })), to('/', 1, hdr({ Color: 'blue' })), to('/', 1, hdr({ Color: 'green' })),
      to('/', 2, hdr({ Color: 'red' })), to('/', 2, hdr({ Color: 'yellow' })), answered('/', 404, hdr({ Color: 'purple' })),
    ],
  },
  {
    name: 'HTTPRouteQueryParamMatching',
    routes: ['query-param-matching'],
    yaml: () => route('query-param-matching', `
- {matches: [{queryParams: [{name: animal, value: whale}]}], backendRefs: [${be(1)}]}
- {matches: [{queryParams: [{name: animal, value: dolphin}]}], backendRefs: [${be(2)}]}
- {matches: [{queryParams: [{name: animal, value: dolphin}, {name: color, value: blue}]}, {queryParams: [{name: ANIMAL, value: Whale}]}], backendRefs: [${be(3)}]}
- {matches: [{path: {type: PathPrefix, value: /path1}, queryParams: [{name: animal, value: whale}]}], backendRefs: [${be(1)}]}
- {matches: [{headers: [{name: version, value: one}], queryParams: [{name: animal, value: whale}]}], backendRefs: [${be(2)}]}
- {matches: [{path: {type: PathPrefix, value: /path2}, headers: [{name: version, value: two}], queryParams: [{name: animal, value: whale}]}], backendRefs: [${be(3)}]}
- matches:
  - {path: {type: PathPrefix, value: /path3}, queryParams: [{name: animal, value: shark}]}
  - {path: {type: PathPrefix, value: /path4}, headers: [{name: version, value: three}], queryParams: [{name: animal, value: kraken}]}
  backendRefs: [${be(1)}]
- {matches: [{path: {type: PathPrefix, value: /path5}}], backendRefs: [${be(1)}]}
- {matches: [{queryParams: [{name: animal, value: hydra}]}], backendRefs: [${be(2)}]}
- {matches: [{headers: [{name: version, value: four}]}], backendRefs: [${be(3)}]}`),
    cases: [
      to('/?animal=whale', 1), to('/?animal=dolphin', 2), to('/?animal=dolphin&color=blue', 3), to('/?ANIMAL=Whale', 3),
      to('/?animal=whale&otherparam=irrelevant', 1), to('/?animal=dolphin&color=yellow', 2), answered('/?color=blue', 404),
      answered('/?animal=dog', 404), answered('/?animal=whaledolphin', 404), answered('/', 404),
      to('/path1?animal=whale', 1), to('/?animal=whale', 2, hdr({ version: 'one' })), to('/path2?animal=whale', 3, hdr({ version: 'two' })),
      to('/path3?animal=shark', 1), to('/path4?animal=kraken', 1, hdr({ version: 'three' })),
      answered('/?animal=shark', 404), answered('/path4?animal=kraken', 404),
      to('/path5?animal=hydra', 1), to('/?animal=hydra', 3, hdr({ version: 'four' })),
    ],
  },
  {
    name: 'HTTPRouteMethodMatching',
    routes: ['method-matching'],
    yaml: () => route('method-matching', `
- {matches: [{method: POST}], backendRefs: [${be(1)}]}
- {matches: [{method: GET}], backendRefs: [${be(2)}]}
- {matches: [{path: {type: PathPrefix, value: /path1}, method: GET}], backendRefs: [${be(1)}]}
- {matches: [{headers: [{name: version, value: one}], method: PUT}], backendRefs: [${be(2)}]}
- {matches: [{path: {type: PathPrefix, value: /path2}, headers: [{name: version, value: two}], method: POST}], backendRefs: [${be(3)}]}
- matches:
  - {path: {type: PathPrefix, value: /path3}, method: PATCH}
  - {path: {type: PathPrefix, value: /path4}, headers: [{name: version, value: three}], method: DELETE}
  backendRefs: [${be(1)}]
- {matches: [{path: {type: PathPrefix, value: /path5}}], backendRefs: [${be(1)}]}
- {matches: [{method: PATCH}], backendRefs: [${be(2)}]}
- {matches: [{headers: [{name: version, value: four}]}], backendRefs: [${be(3)}]}`),
    cases: [
      to('/', 1, { method: 'POST' }), to('/', 2, { method: 'GET' }), answered('/', 404, { method: 'HEAD' }),
      to('/path1', 1, { method: 'GET' }), to('/', 2, { method: 'PUT', headers: { version: 'one' } }),
      to('/path2', 3, { method: 'POST', headers: { version: 'two' } }), to('/path3', 1, { method: 'PATCH' }),
      to('/path4', 1, { method: 'DELETE', headers: { version: 'three' } }), answered('/', 404, { method: 'PUT' }),
      answered('/path4', 404, { method: 'DELETE' }), to('/path5', 1, { method: 'PATCH' }),
      to('/', 2, { method: 'PATCH', headers: { version: 'four' } }),
    ],
  },
];

for (const s of scenarios) {
  test(s.name, async () => {
    await apply(s);
    for (const c of s.cases) await check(c);
  });
}
