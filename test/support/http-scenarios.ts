// The upstream HTTPRoute (and a few Gateway) conformance scenarios that check traffic
// (conformance/tests/*.go), as a table shared by two test files: test/http-conformance.test.ts
// runs them through translate() and an in-process data plane (the fast path), and
// test/http-e2e-run.test.ts through a real `portico run -f DIR` process with worker processes.
// Each entry is one upstream test (named by its ShortName): its YAML (namespace
// gateway-conformance-infra, Gateway `same-namespace` on the env's port) and the requests with
// what the upstream test expects of them, against three real echo backend processes
// (infra-backend-v1..v3).
//
// The table reads the ports, certificate and backends of the running test from this module's
// environment, set once by the test file with useScenarioEnv() before any scenario runs.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { WebSocket } from 'ws';
import { randomUUID } from 'node:crypto';
import type { EchoBackend, EchoBody } from './echo-backend.ts';
import { h2request, request, type Reply } from './client.ts';
import type { LeafCert } from './tls-certs.ts';
import { caConfigMapYaml, localServiceYaml, tlsSecretYaml } from './manifests.ts';

export const NS = 'gateway-conformance-infra';
export const NAMES = ['infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3'];

/** What the scenarios need of the running test: its ports, serving certificate and processes. */
export interface ScenarioEnv {
  /** The HTTP port of Gateway same-namespace (upstream's port 80). */
  port: number;
  /** The HTTPS port (upstream's 443). */
  tlsPort: number;
  /** Two more HTTP ports (scenarios with listeners on several ports). */
  port2: number;
  port3: number;
  /** Serves example.org, second-example.org, unknown-example.org and *.wildcard.org. */
  cert: LeafCert;
  /** infra-backend-v1..v3, in that order. */
  backends: EchoBackend[];
  /** A gRPC ext_authz service (test/support/grpc-authz.ts). */
  authzPort: number;
}

let backends: EchoBackend[] = [];
let port: number;
let tlsPort: number;
let port2: number;
let port3: number;
let cert: LeafCert;
let authzPort: number;

/** Sets the environment the scenarios, check() and send() use. */
export function useScenarioEnv(env: ScenarioEnv): void {
  ({ backends, port, tlsPort, port2, port3, cert, authzPort } = env);
}

export function infra(): string {
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

export interface Case {
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
  /** Backends that must receive a copy of the request (RequestMirror). */
  mirrored?: (1 | 2 | 3)[];
  /** Any of these statuses will do (CORS preflights: 200 or 204). */
  statuses?: number[];
  /** Response headers that must equal one of the values given (whitespace ignored). */
  oneOf?: Record<string, string[]>;
  /** Send over HTTP/2 with prior knowledge, or as a WebSocket (the backend's answer to a message must come back). */
  protocol?: 'h2c' | 'ws';
  /** Send over TLS to the HTTPS port with this SNI. */
  sni?: string;
  /** Send to the second or third HTTP port (scenarios with listeners on several ports). */
  via?: 2 | 3;
}

export interface Scenario {
  name: string;
  yaml: () => string;
  routes: string[];
  cases: Case[];
  /** Checks beyond single requests (e.g. a weighted distribution). */
  extra?: () => Promise<void>;
}


export async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends a case's request over HTTP/1.1, h2c or TLS. */
export async function send(c: Case): Promise<Reply> {
  const host = c.host ?? 'example.com';
  if (c.protocol === 'h2c') {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      return await h2request(session, c.path, { host, method: c.method, headers: c.headers });
    } finally {
      session.close();
    }
  }
  const target = c.via === 2 ? port2 : c.via === 3 ? port3 : port;
  if (c.sni === undefined) return request(target, c.path, { host, method: c.method, headers: c.headers });
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: tlsPort, servername: c.sni, path: c.path, method: c.method ?? 'GET', headers: { ...c.headers, host }, ca: cert.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as EchoBody });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A WebSocket through the gateway: the backend answers a message with `NAME:message`. */
async function checkWebSocket(c: Case): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${c.path}`, { headers: { host: c.host ?? 'example.com' } });
  try {
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const answer = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    ws.send('hello');
    assert.equal(await answer, `${NAMES[(c.backend ?? 1) - 1]}:hello`);
  } finally {
    ws.close();
  }
}

/** A header's values as the conformance suite compares them: joined by ',' (null when absent). */
function joined(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return (Array.isArray(v) ? v.join(',') : v).replace(/,\s+/g, ',');
}

export async function check(c: Case): Promise<void> {
  const what = `${c.method ?? 'GET'} ${c.host ?? 'example.com'}${c.via ? ` (port ${c.via})` : ''}${c.path} ${JSON.stringify(c.headers ?? {})}`;
  if (c.mirrored) c = { ...c, path: `${c.path}${c.path.includes('?') ? '&' : '?'}id=${randomUUID()}` };
  if (c.protocol === 'ws') return checkWebSocket(c);
  const r = await send(c);
  if (c.backend !== undefined) {
    assert.equal(r.status, 200, `${what}: status`);
    const body = r.json();
    assert.equal(body.name, NAMES[c.backend - 1], `${what}: backend`);
    for (const [k, v] of Object.entries(c.seen ?? {})) {
      assert.equal(joined(body.headers[k.toLowerCase()]), v, `${what}: backend saw ${k}`);
    }
    if (c.seenPath !== undefined) assert.equal(body.path, c.seenPath, `${what}: backend path`);
    if (c.seenHost !== undefined) assert.equal(body.host, c.seenHost, `${what}: backend host`);
  }
  if (c.status !== undefined) assert.equal(r.status, c.status, `${what}: status`);
  if (c.statuses) assert.ok(c.statuses.includes(r.status), `${what}: status ${r.status}, want one of ${c.statuses.join(', ')}`);
  for (const [k, options] of Object.entries(c.oneOf ?? {})) {
    const got = joined(r.headers[k.toLowerCase()])?.replace(/\s+/g, '');
    assert.ok(options.some((o) => o.replace(/\s+/g, '') === got), `${what}: ${k} is ${got}, want one of ${options.join(' | ')}`);
  }
  for (const v of c.mirrored ?? []) {
    // mirrors are fire and forget: the copy may land after the response
    await waitUntil(async () => (await backends[v - 1]!.log()).some((e) => e.path === c.path), `${what}: mirrored to v${v}`);
  }
  if (c.location !== undefined) assert.equal(r.headers.location, c.location.replace('TLSPORT', String(tlsPort)).replace('PORT', String(port)), `${what}: location`);
  for (const [k, v] of Object.entries(c.response ?? {})) {
    assert.equal(joined(r.headers[k.toLowerCase()]), v, `${what}: response ${k}`);
  }
}

/** Shorthand: a request routed to backend `v`. */
const to = (path: string, v: 1 | 2 | 3, extra: Partial<Case> = {}): Case => ({ path, backend: v, ...extra });
/** Shorthand: a request answered by the gateway with `status`. */
const answered = (path: string, status: number, extra: Partial<Case> = {}): Case => ({ path, status, ...extra });
const hdr = (headers: Record<string, string>, extra: Partial<Case> = {}): Partial<Case> => ({ headers, ...extra });

/** A Gateway on the test port with one listener per hostname ('' for none), named listener-1…. */
function gateway(name: string, hostnames: string[]): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
${hostnames.map((h, i) => `  - {name: listener-${i + 1}, port: ${port}, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}${h ? `, hostname: ${h}` : ''}}`).join('\n')}`;
}

/** An HTTPRoute with `hostnames` on Gateway `gw`, one PathPrefix rule to backend `v`. */
function onGateway(name: string, gw: string, hostnames: string, prefix: string, v: 1 | 2 | 3): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [{name: ${gw}}]
  hostnames: ${hostnames}
  rules: [{matches: [{path: {type: PathPrefix, value: ${prefix}}}], backendRefs: [${be(v)}]}]`;
}

/** The same request to several hosts: routed to backend `v`, or answered with a status (>= 100). */
function hosts(list: string[], path: string, want: number): Case[] {
  return list.map((host) => (want >= 100 ? answered(path, want, { host }) : to(path, want as 1 | 2 | 3, { host })));
}

/** The RequestHeaderModifier the rewrite tests combine with URLRewrite, what they send and what the backend must see. */
const MODIFY = '{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Header-Set, value: set-overwrites-values}], add: [{name: X-Header-Add, value: header-val-1}, {name: X-Header-Add-Append, value: header-val-2}], remove: [X-Header-Remove]}}';
const MODIFY_IN = { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1', 'X-Header-Set': 'set-val' };
const MODIFIED = { 'X-Header-Add': 'header-val-1', 'X-Header-Add-Append': 'append-val-1,header-val-2', 'X-Header-Set': 'set-overwrites-values', 'X-Header-Remove': null };

/** The header modifiers of the Request/ResponseHeaderModifier tests, by path prefix. */
const HEADER_MODIFIERS: [string, string][] = [
  ['/set', 'set: [{name: X-Header-Set, value: set-overwrites-values}]'],
  ['/add', 'add: [{name: X-Header-Add, value: add-appends-values}]'],
  ['/remove', 'remove: [X-Header-Remove]'],
  ['/multiple', 'set: [{name: X-Header-Set-1, value: header-set-1}, {name: X-Header-Set-2, value: header-set-2}], add: [{name: X-Header-Add-1, value: header-add-1}, {name: X-Header-Add-2, value: header-add-2}, {name: X-Header-Add-3, value: header-add-3}], remove: [X-Header-Remove-1, X-Header-Remove-2]'],
];

/** HTTPRouteRequestHeaderModifier's rules, with the filter on the rule or (the Backend variant) on its backendRef. */
function requestModifierRules(onBackend: boolean): string {
  const rows = [...HEADER_MODIFIERS, ['/case-insensitivity', 'set: [{name: X-Header-Set, value: header-set}], add: [{name: X-Header-Add, value: header-add}], remove: [X-Header-Remove]']];
  return rows.map(([prefix, mod]) => {
    const filter = `{type: RequestHeaderModifier, requestHeaderModifier: {${mod}}}`;
    return onBackend
      ? `- {matches: [{path: {type: PathPrefix, value: ${prefix}}}], backendRefs: [${be(1, `filters: [${filter}]`)}]}`
      : `- {matches: [{path: {type: PathPrefix, value: ${prefix}}}], filters: [${filter}], backendRefs: [${be(1)}]}`;
  }).join('\n');
}

const REQUEST_MODIFIER_CASES: Case[] = [
  to('/set', 1, { headers: { 'Some-Other-Header': 'val' }, seen: { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' } }),
  to('/set', 1, { headers: { 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' }, seen: { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' } }),
  to('/add', 1, { headers: { 'Some-Other-Header': 'val' }, seen: { 'Some-Other-Header': 'val', 'X-Header-Add': 'add-appends-values' } }),
  to('/add', 1, { headers: { 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value' }, seen: { 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value,add-appends-values' } }),
  to('/remove', 1, { headers: { 'X-Header-Remove': 'val' }, seen: { 'X-Header-Remove': null } }),
  to('/multiple', 1, {
    headers: { 'X-Header-Set-2': 'set-val-2', 'X-Header-Add-2': 'add-val-2', 'X-Header-Remove-2': 'remove-val-2', 'Another-Header': 'another-header-val' },
    seen: { 'X-Header-Set-1': 'header-set-1', 'X-Header-Set-2': 'header-set-2', 'X-Header-Add-1': 'header-add-1', 'X-Header-Add-2': 'add-val-2,header-add-2', 'X-Header-Add-3': 'header-add-3', 'Another-Header': 'another-header-val', 'X-Header-Remove-1': null, 'X-Header-Remove-2': null },
  }),
  to('/case-insensitivity', 1, {
    headers: { 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'original-val-remove', 'Another-Header': 'another-header-val' },
    seen: { 'X-Header-Set': 'header-set', 'X-Header-Add': 'original-val-add,header-add', 'Another-Header': 'another-header-val', 'X-Header-Remove': null },
  }),
];

/** Asks the echo backend to set these response headers (its X-Echo-Set-Header). */
const backendSets = (h: Record<string, string>) => ({ 'X-Echo-Set-Header': Object.entries(h).map(([k, v]) => `${k}:${v}`).join(',') });

/** Sends `n` requests to `path` (tagged ?id=…), then returns the share of them backend `v` received. */
async function mirroredShare(path: string, v: 1 | 2 | 3, n: number): Promise<number> {
  const tag = randomUUID();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
  try {
    await Promise.all(Array.from({ length: 10 }, async (_, w) => {
      for (let i = w; i < n; i += 10) assert.equal((await request(port, `${path}?tag=${tag}&i=${i}`, { host: 'example.com', agent })).json().name, NAMES[0]);
    }));
  } finally {
    agent.destroy();
  }
  await new Promise((r) => setTimeout(r, 300)); // let the last copies land
  return (await backends[v - 1]!.log()).filter((e) => e.path.includes(`tag=${tag}`)).length / n;
}

/** A CORS preflight from `origin` asking for `method` (and `headers`). */
function preflight(path: string, origin: string, method: string, headers: string | undefined, extra: Partial<Case>): Case {
  const h: Record<string, string> = { Origin: origin, 'access-control-request-method': method };
  if (headers) h['access-control-request-headers'] = headers;
  return { path, method: 'OPTIONS', headers: h, statuses: [200, 204], ...extra };
}

/** The full CORS answer of route cors-1 to an allowed origin. */
const CORS1_ALLOWED = (origin: string): Record<string, string[]> => ({
  'access-control-allow-origin': [origin],
  'access-control-allow-methods': ['GET, OPTIONS', 'OPTIONS, GET'],
  'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1'],
  'access-control-expose-headers': ['x-header-3, x-header-4', 'x-header-4, x-header-3'],
  'access-control-max-age': ['3600'],
  'access-control-allow-credentials': ['true'],
});

/** The upstream echo's retry simulation on our echo backend: fail with `code` until attempt `after`, then succeed. */
const retry = (path: string, code: number, after: number, want: number): Case =>
  ({ path: `${path}?responseCode=${code}&succeedAfter=${after}&uuid=${randomUUID()}`, ...(want === 200 ? { backend: 3 as const } : { status: want }) });

/** The upstream's backend Service with its h2c (8081) and WebSocket (8082) ports, on backend v1. */
function protocolService(): string {
  const v1 = backends[0]!;
  return `apiVersion: v1
kind: Service
metadata: {name: infra-backend-v1-protocols, namespace: ${NS}}
spec:
  ports:
  - {name: h2c, port: 8081, appProtocol: kubernetes.io/h2c}
  - {name: ws, port: 8082, appProtocol: kubernetes.io/ws}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: infra-backend-v1-protocols-1, namespace: ${NS}, labels: {kubernetes.io/service-name: infra-backend-v1-protocols}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
ports: [{name: h2c, port: ${v1.h2cPort}}, {name: ws, port: ${v1.port}}]`;
}

/** web-backend in gateway-conformance-web-backend (served by backend v1): a cross-namespace target. */
const WEB_BACKEND = () => `apiVersion: v1\nkind: Namespace\nmetadata: {name: gateway-conformance-web-backend}\n---\n${localServiceYaml('web-backend', 8080, backends[0]!.port, { namespace: 'gateway-conformance-web-backend' })}`;

/** A ReferenceGrant in `ns` from HTTPRoutes of `fromNs` (group `fromGroup`, kind `fromKind`) to Service `toName`. */
const grant = (name: string, ns: string, o: { fromGroup?: string; fromKind?: string; fromNs?: string; toGroup?: string; toKind?: string; toName?: string } = {}) => `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: ${name}, namespace: ${ns}}
spec:
  from: [{group: ${o.fromGroup ?? 'gateway.networking.k8s.io'}, kind: ${o.fromKind ?? 'HTTPRoute'}, namespace: ${o.fromNs ?? NS}}]
  to: [{group: "${o.toGroup ?? ''}", kind: ${o.toKind ?? 'Service'}, name: ${o.toName ?? 'web-backend'}}]`;

/** The HTTPS Gateway of HTTPRouteHTTPSListenerDetectMisdirectedRequests, on the TLS port. */
function httpsGateway(): string {
  const l = (name: string, hostname?: string) => `  - {name: ${name}, port: ${tlsPort}, protocol: HTTPS, allowedRoutes: {namespaces: {from: Same}}${hostname ? `, hostname: "${hostname}"` : ''}, tls: {certificateRefs: [{name: tls-validity-checks-certificate}]}}`;
  return `${tlsSecretYaml('tls-validity-checks-certificate', cert, NS)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace-with-https-listener, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
${l('https')}
${l('https-with-hostname', 'second-example.org')}
${l('https-with-wildcard-hostname', '*.wildcard.org')}
${l('https-with-hostname-matching-wildcard', 'fourth-example.wildcard.org')}`;
}

const misdirected = (n: number, section: string, v: 1 | 2 | 3, hostnames = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: https-listener-detect-misdirected-requests-test-${n}, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: ${section}}]
${hostnames ? `  hostnames: [${hostnames}]\n` : ''}  rules: [{matches: [{path: {type: PathPrefix, value: /detect-misdirected-requests}}], backendRefs: [${be(v)}]}]`;

/** A request over TLS with SNI `sni` and Host `host`: backend `want` (1..3) or status `want`. */
const overTls = (sni: string, host: string, want: number): Case =>
  ({ path: '/detect-misdirected-requests', sni, host, ...(want >= 100 ? { status: want } : { backend: want as 1 | 2 | 3 }) });

/** A rule answering requests under `prefix` with a RequestRedirect (`redirect`: the fields, flow style). */
const redirectRule = (prefix: string, redirect: string) => `- {matches: [{path: {type: PathPrefix, value: ${prefix}}}], filters: [{type: RequestRedirect, requestRedirect: {${redirect}}}]}`;

/** A redirect of every status code upstream has a test for, by path. */
const statusRedirect = (name: string, prefix: string, code: number, method = 'GET'): Scenario => ({
  name,
  routes: [`${code}-redirect`],
  yaml: () => route(`${code}-redirect`, redirectRule(prefix, `statusCode: ${code}`)),
  cases: [answered(prefix, code, { method, location: `http://example.com:PORT${prefix}` })],
});

export const scenarios: Scenario[] = [
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
  {
    name: 'HTTPRouteHostnameIntersection',
    routes: ['specific-host-matches-listener-specific-host', 'specific-host-matches-listener-wildcard-host', 'wildcard-host-matches-listener-specific-host', 'wildcard-host-matches-listener-wildcard-host', 'httproute-hostname-intersection-all'],
    yaml: () => [
      gateway('httproute-hostname-intersection', ['very.specific.com', '"*.wildcard.io"', '"*.anotherwildcard.io"']),
      gateway('httproute-hostname-intersection-all', ['']),
      onGateway('specific-host-matches-listener-specific-host', 'httproute-hostname-intersection', '[non.matching.com, "*.nonmatchingwildcard.io", very.specific.com]', '/s1', 1),
      onGateway('specific-host-matches-listener-wildcard-host', 'httproute-hostname-intersection', '[non.matching.com, wildcard.io, foo.wildcard.io, bar.wildcard.io, foo.bar.wildcard.io]', '/s2', 2),
      onGateway('wildcard-host-matches-listener-specific-host', 'httproute-hostname-intersection', '[non.matching.com, "*.specific.com"]', '/s3', 3),
      onGateway('wildcard-host-matches-listener-wildcard-host', 'httproute-hostname-intersection', '["*.anotherwildcard.io"]', '/s4', 1),
      onGateway('no-intersecting-hosts', 'httproute-hostname-intersection', '[specific.but.wrong.com, wildcard.io]', '/s5', 2),
      onGateway('httproute-hostname-intersection-all', 'httproute-hostname-intersection-all', '[first.com, sub.first.com, second.com, sub.second.com]', '/', 2),
    ].join('\n---\n'),
    cases: [
      ...hosts(['very.specific.com', 'very.specific.com:1234'], '/s1', 1),
      ...hosts(['non.matching.com', 'foo.nonmatchingwildcard.io', 'foo.wildcard.io'], '/s1', 404), answered('/non-matching-prefix', 404, { host: 'very.specific.com' }),
      ...hosts(['foo.wildcard.io', 'bar.wildcard.io', 'foo.bar.wildcard.io'], '/s2', 2),
      ...hosts(['non.matching.com', 'wildcard.io', 'very.specific.com'], '/s2', 404), answered('/non-matching-prefix', 404, { host: 'foo.wildcard.io' }),
      to('/s3', 3, { host: 'very.specific.com' }), ...hosts(['non.matching.com', 'foo.specific.com', 'foo.wildcard.io'], '/s3', 404),
      ...hosts(['foo.anotherwildcard.io', 'bar.anotherwildcard.io', 'foo.bar.anotherwildcard.io'], '/s4', 1),
      ...hosts(['anotherwildcard.io', 'foo.wildcard.io', 'very.specific.com'], '/s4', 404), answered('/non-matching-prefix', 404, { host: 'foo.anotherwildcard.io' }),
      ...hosts(['specific.but.wrong.com', 'wildcard.io'], '/s5', 404),
      ...hosts(['first.com', 'sub.first.com', 'second.com', 'sub.second.com'], '/', 2), ...hosts(['third.com', 'sub.third.com'], '/', 404),
    ],
  },
  {
    name: 'HTTPRouteListenerHostnameMatching',
    routes: ['backend-v1', 'backend-v2', 'backend-v3'],
    yaml: () => {
      const gw = 'httproute-listener-hostname-matching';
      const onListeners = (name: string, sections: string[], v: 1 | 2 | 3) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [${sections.map((x) => `{name: ${gw}, sectionName: ${x}}`).join(', ')}]
  rules: [{backendRefs: [${be(v)}]}]`;
      return [
        gateway(gw, ['bar.com', 'foo.bar.com', '"*.bar.com"', '"*.foo.com"']),
        onListeners('backend-v1', ['listener-1'], 1), onListeners('backend-v2', ['listener-2'], 2), onListeners('backend-v3', ['listener-3', 'listener-4'], 3),
      ].join('\n---\n');
    },
    cases: [
      to('/', 1, { host: 'bar.com' }), to('/', 2, { host: 'foo.bar.com' }),
      ...hosts(['baz.bar.com', 'boo.bar.com', 'multiple.prefixes.bar.com', 'multiple.prefixes.foo.com'], '/', 3),
      ...hosts(['foo.com', 'no.matching.host'], '/', 404),
    ],
  },
  {
    name: 'HTTPRouteWeight',
    routes: ['weighted-backends'],
    yaml: () => route('weighted-backends', `
- backendRefs: [${be(1, 'weight: 70')}, ${be(2, 'weight: 30')}, ${be(3, 'weight: 0')}]`),
    cases: [{ path: '/', status: 200 }],
    extra: async () => {
      // the distribution over 1000 requests, within the suite's tolerance of 5 points
      const counts = new Map<string, number>();
      const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
      try {
        await Promise.all(Array.from({ length: 10 }, async () => {
          for (let i = 0; i < 100; i++) {
            const name = (await request(port, '/', { host: 'example.com', agent })).json().name;
            counts.set(name, (counts.get(name) ?? 0) + 1);
          }
        }));
      } finally {
        agent.destroy();
      }
      const share = (v: number) => (counts.get(NAMES[v - 1]!) ?? 0) / 1000;
      assert.ok(Math.abs(share(1) - 0.7) <= 0.05, `v1 share ${share(1)}`);
      assert.ok(Math.abs(share(2) - 0.3) <= 0.05, `v2 share ${share(2)}`);
      assert.equal(share(3), 0, 'weight 0 never chosen');
    },
  },
  {
    name: 'HTTPRouteRedirectHostAndStatus',
    routes: ['redirect-host-and-status'],
    yaml: () => route('redirect-host-and-status', `
- {matches: [{path: {type: PathPrefix, value: /hostname-redirect}}], filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org}}]}
- {matches: [{path: {type: PathPrefix, value: /host-and-status}}], filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301, hostname: example.org}}]}`),
    cases: [
      answered('/hostname-redirect', 302, { location: 'http://example.org:PORT/hostname-redirect' }),
      answered('/host-and-status', 301, { location: 'http://example.org:PORT/host-and-status' }),
    ],
  },
  {
    name: 'HTTPRouteRedirectPath',
    routes: ['redirect-path'],
    yaml: () => route('redirect-path', [
      redirectRule('/original-prefix', 'path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}'),
      redirectRule('/full', 'path: {type: ReplaceFullPath, replaceFullPath: /full-path-replacement}'),
      redirectRule('/path-and-host', 'hostname: example.org, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}'),
      redirectRule('/path-and-status', 'path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}, statusCode: 301'),
      redirectRule('/full-path-and-host', 'hostname: example.org, path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}'),
      redirectRule('/full-path-and-status', 'path: {type: ReplaceFullPath, replaceFullPath: /replacement-full}, statusCode: 301'),
    ].join('\n')),
    cases: [
      answered('/original-prefix/lemon', 302, { location: 'http://example.com:PORT/replacement-prefix/lemon' }),
      answered('/full/path/original', 302, { location: 'http://example.com:PORT/full-path-replacement' }),
      answered('/path-and-host', 302, { location: 'http://example.org:PORT/replacement-prefix' }),
      answered('/path-and-status', 301, { location: 'http://example.com:PORT/replacement-prefix' }),
      answered('/full-path-and-host', 302, { location: 'http://example.org:PORT/replacement-full' }),
      answered('/full-path-and-status', 301, { location: 'http://example.com:PORT/replacement-full' }),
    ],
  },
  {
    name: 'HTTPRouteRedirectPort',
    routes: ['redirect-port'],
    yaml: () => route('redirect-port', [
      redirectRule('/port', 'port: 8083'), redirectRule('/port-and-host', 'hostname: example.org, port: 8083'),
      redirectRule('/port-and-status', 'port: 8083, statusCode: 301'), redirectRule('/port-and-host-and-status', 'port: 8083, hostname: example.org, statusCode: 302'),
    ].join('\n')),
    cases: [
      answered('/port', 302, { location: 'http://example.com:8083/port' }),
      answered('/port-and-host', 302, { location: 'http://example.org:8083/port-and-host' }),
      answered('/port-and-status', 301, { location: 'http://example.com:8083/port-and-status' }),
      answered('/port-and-host-and-status', 302, { location: 'http://example.org:8083/port-and-host-and-status' }),
    ],
  },
  {
    name: 'HTTPRouteRedirectScheme',
    routes: ['redirect-scheme'],
    yaml: () => route('redirect-scheme', [
      redirectRule('/scheme', 'scheme: https'), redirectRule('/scheme-and-host', 'hostname: example.org, scheme: https'),
      redirectRule('/scheme-and-status', 'scheme: https, statusCode: 301'), redirectRule('/scheme-and-host-and-status', 'scheme: https, statusCode: 302, hostname: example.org'),
    ].join('\n')),
    cases: [
      // a scheme without a port: the scheme's well-known port, left out of Location
      answered('/scheme', 302, { location: 'https://example.com/scheme' }),
      answered('/scheme-and-host', 302, { location: 'https://example.org/scheme-and-host' }),
      answered('/scheme-and-status', 301, { location: 'https://example.com/scheme-and-status' }),
      answered('/scheme-and-host-and-status', 302, { location: 'https://example.org/scheme-and-host-and-status' }),
    ],
  },
  {
    name: 'HTTPRouteRewriteHost',
    routes: ['rewrite-host'],
    yaml: () => route('rewrite-host', `
- {matches: [{path: {type: PathPrefix, value: /one}}], filters: [{type: URLRewrite, urlRewrite: {hostname: one.example.org}}], backendRefs: [${be(1)}]}
- {filters: [{type: URLRewrite, urlRewrite: {hostname: example.org}}], backendRefs: [${be(2)}]}
- matches: [{path: {type: PathPrefix, value: /rewrite-host-and-modify-headers}}]
  filters:
  - {type: URLRewrite, urlRewrite: {hostname: test.example.org}}
  - ${MODIFY}
  backendRefs: [${be(2)}]`, 'hostnames: [rewrite.example]'),
    cases: [
      to('/one', 1, { host: 'rewrite.example', seenHost: 'one.example.org', seenPath: '/one' }),
      to('/two', 2, { host: 'rewrite.example', seenHost: 'example.org', seenPath: '/two' }),
      to('/rewrite-host-and-modify-headers', 2, { host: 'rewrite.example', headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1' }, seenHost: 'test.example.org', seen: MODIFIED }),
    ],
  },
  {
    name: 'HTTPRouteRewritePath',
    routes: ['rewrite-path'],
    yaml: () => route('rewrite-path', `
- {matches: [{path: {type: PathPrefix, value: /prefix/one}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /one}}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /strip-prefix}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /full/one}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /one}}}], backendRefs: [${be(1)}]}
- matches: [{path: {type: PathPrefix, value: /full/rewrite-path-and-modify-headers}}]
  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /test}}}, ${MODIFY}]
  backendRefs: [${be(1)}]
- matches: [{path: {type: PathPrefix, value: /prefix/rewrite-path-and-modify-headers}}]
  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /prefix}}}, ${MODIFY}]
  backendRefs: [${be(1)}]`),
    cases: [
      to('/prefix/one/two', 1, { seenPath: '/one/two' }), to('/strip-prefix/three', 1, { seenPath: '/three' }),
      to('/strip-prefix', 1, { seenPath: '/' }), to('/full/one/two', 1, { seenPath: '/one' }),
      to('/full/rewrite-path-and-modify-headers/test', 1, { headers: MODIFY_IN, seenPath: '/test', seen: MODIFIED }),
      to('/prefix/rewrite-path-and-modify-headers/one', 1, { headers: MODIFY_IN, seenPath: '/prefix/one', seen: MODIFIED }),
    ],
  },
  {
    name: 'HTTPRouteRequestHeaderModifier',
    routes: ['request-header-modifier'],
    yaml: () => route('request-header-modifier', requestModifierRules(false)),
    cases: REQUEST_MODIFIER_CASES,
  },
  {
    name: 'HTTPRouteBackendRequestHeaderModifier',
    routes: ['request-header-modifier'],
    yaml: () => route('request-header-modifier', requestModifierRules(true)),
    cases: REQUEST_MODIFIER_CASES,
  },
  {
    name: 'HTTPRouteResponseHeaderModifier', // upstream ShortName; named after its feature, HTTPRouteResponseHeaderModification, before
    routes: ['response-header-modifier'],
    yaml: () => route('response-header-modifier', [
      ...HEADER_MODIFIERS.map(([prefix, mod]) => `- {matches: [{path: {type: PathPrefix, value: ${prefix}}}], filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {${mod}}}], backendRefs: [${be(1)}]}`),
      `- {matches: [{path: {type: PathPrefix, value: /case-insensitivity}}], filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Header-Set, value: header-set}], add: [{name: X-Header-Add, value: header-add}, {name: x-lowercase-add, value: lowercase-add}, {name: x-Mixedcase-ADD-1, value: mixedcase-add-1}, {name: X-mixeDcase-add-2, value: mixedcase-add-2}, {name: X-UPPERCASE-ADD, value: uppercase-add}], remove: [X-Header-Remove]}}], backendRefs: [${be(1)}]}`,
      `- matches: [{path: {type: PathPrefix, value: /response-and-request-header-modifiers}}]
  filters:
  - {type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Header-Set-1, value: header-set-1}, {name: X-Header-Set-2, value: header-set-2}], add: [{name: X-Header-Add-1, value: header-add-1}, {name: X-Header-Add-2, value: header-add-2}], remove: [X-Header-Remove-1, X-Header-Remove-2]}}
  - ${MODIFY}
  backendRefs: [${be(1)}]`,
    ].join('\n')),
    cases: [
      to('/set', 1, { headers: backendSets({ 'Some-Other-Header': 'val' }), response: { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' } }),
      to('/set', 1, { headers: backendSets({ 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' }), response: { 'Some-Other-Header': 'val', 'X-Header-Set': 'set-overwrites-values' } }),
      to('/add', 1, { headers: backendSets({ 'Some-Other-Header': 'val' }), response: { 'Some-Other-Header': 'val', 'X-Header-Add': 'add-appends-values' } }),
      to('/add', 1, { headers: backendSets({ 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value' }), response: { 'Some-Other-Header': 'val', 'X-Header-Add': 'some-other-value,add-appends-values' } }),
      to('/remove', 1, { headers: backendSets({ 'X-Header-Remove': 'val' }), response: { 'X-Header-Remove': null } }),
      to('/multiple', 1, {
        headers: backendSets({ 'X-Header-Set-2': 'set-val-2', 'X-Header-Add-2': 'add-val-2', 'X-Header-Remove-2': 'remove-val-2', 'Another-Header': 'another-header-val', 'X-Header-Remove-1': 'val' }),
        response: { 'X-Header-Set-1': 'header-set-1', 'X-Header-Set-2': 'header-set-2', 'X-Header-Add-1': 'header-add-1', 'X-Header-Add-2': 'add-val-2,header-add-2', 'X-Header-Add-3': 'header-add-3', 'Another-Header': 'another-header-val', 'X-Header-Remove-1': null, 'X-Header-Remove-2': null },
      }),
      to('/case-insensitivity', 1, {
        headers: backendSets({ 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'original-val-remove', 'Another-Header': 'another-header-val' }),
        response: { 'X-Header-Set': 'header-set', 'X-Header-Add': 'original-val-add,header-add', 'X-Lowercase-Add': 'lowercase-add', 'X-Mixedcase-Add-1': 'mixedcase-add-1', 'X-Mixedcase-Add-2': 'mixedcase-add-2', 'X-Uppercase-Add': 'uppercase-add', 'Another-Header': 'another-header-val', 'X-Header-Remove': null },
      }),
      to('/response-and-request-header-modifiers', 1, {
        headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1', ...backendSets({ 'X-Header-Set-2': 'set-val-2', 'X-Header-Add-2': 'add-val-2', 'X-Header-Remove-2': 'remove-val-2', 'Another-Header': 'another-header-val', 'X-Header-Remove-1': 'remove-val-1' }) },
        seen: { 'X-Header-Add': 'header-val-1', 'X-Header-Set': 'set-overwrites-values', 'X-Header-Add-Append': 'append-val-1,header-val-2', 'X-Header-Remove': null },
        response: { 'X-Header-Set-1': 'header-set-1', 'X-Header-Set-2': 'header-set-2', 'X-Header-Add-1': 'header-add-1', 'X-Header-Add-2': 'add-val-2,header-add-2', 'Another-Header': 'another-header-val', 'X-Header-Remove-1': null, 'X-Header-Remove-2': null },
      }),
    ],
  },
  {
    name: 'HTTPRouteRequestMirror',
    routes: ['request-mirror'],
    yaml: () => route('request-mirror', `
- {matches: [{path: {type: PathPrefix, value: /mirror}}], filters: [{type: RequestMirror, requestMirror: {backendRef: ${be(2)}}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /mirror-and-modify-headers}}], filters: [${MODIFY}, {type: RequestMirror, requestMirror: {backendRef: ${be(2)}}}], backendRefs: [${be(1)}]}`),
    cases: [
      to('/mirror', 1, { mirrored: [2] }),
      to('/mirror-and-modify-headers', 1, { headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1' }, seen: { ...MODIFIED, 'X-Header-Set': 'set-overwrites-values' }, mirrored: [2] }),
    ],
  },
  {
    name: 'HTTPRouteRequestMultipleMirrors',
    routes: ['request-multiple-mirrors'],
    yaml: () => route('request-multiple-mirrors', `
- {matches: [{path: {type: PathPrefix, value: /multi-mirror}}], filters: [{type: RequestMirror, requestMirror: {backendRef: ${be(2)}}}, {type: RequestMirror, requestMirror: {backendRef: ${be(3)}}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /multi-mirror-and-modify-request-headers}}], filters: [${MODIFY}, {type: RequestMirror, requestMirror: {backendRef: ${be(2)}}}, {type: RequestMirror, requestMirror: {backendRef: ${be(3)}}}], backendRefs: [${be(1)}]}`),
    cases: [
      to('/multi-mirror', 1, { mirrored: [2, 3] }),
      to('/multi-mirror-and-modify-request-headers', 1, { headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1' }, seen: MODIFIED, mirrored: [2, 3] }),
    ],
  },
  {
    name: 'HTTPRouteRequestPercentageMirror',
    routes: ['request-percentage-mirror'],
    yaml: () => route('request-percentage-mirror', `
- {matches: [{path: {type: PathPrefix, value: /percent-mirror}}], filters: [{type: RequestMirror, requestMirror: {backendRef: ${be(2)}, percent: 20}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /percent-mirror-fraction}}], filters: [{type: RequestMirror, requestMirror: {backendRef: ${be(2)}, fraction: {numerator: 25, denominator: 50}}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /percent-mirror-and-modify-headers}}], filters: [${MODIFY}, {type: RequestMirror, requestMirror: {backendRef: ${be(2)}, percent: 35}}], backendRefs: [${be(1)}]}`),
    cases: [to('/percent-mirror-and-modify-headers', 1, { headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1' }, seen: MODIFIED })],
    extra: async () => {
      // the mirrored share over 400 requests, within 10 points (4 standard deviations)
      for (const [path, want] of [['/percent-mirror', 0.2], ['/percent-mirror-fraction', 0.5], ['/percent-mirror-and-modify-headers', 0.35]] as const) {
        const share = await mirroredShare(path, 2, 400);
        assert.ok(Math.abs(share - want) <= 0.1, `${path}: mirrored share ${share}, want ${want}`);
      }
    },
  },
  {
    name: 'HTTPRouteTimeoutRequest', // upstream ShortName; named after its feature, HTTPRouteRequestTimeout, before
    routes: ['request-timeout'],
    yaml: () => route('request-timeout', `
- {matches: [{path: {type: PathPrefix, value: /request-timeout}}], backendRefs: [${be(1)}], timeouts: {request: 500ms}}
- {matches: [{path: {type: PathPrefix, value: /disable-request-timeout}}], backendRefs: [${be(1)}], timeouts: {request: 0s}}`),
    cases: [to('/request-timeout', 1), answered('/request-timeout?delay=1000', 504), to('/disable-request-timeout?delay=1000', 1)],
  },
  {
    name: 'HTTPRouteTimeoutBackendRequest', // upstream ShortName; named after its feature, HTTPRouteBackendTimeout, before
    routes: ['backend-request-timeout'],
    yaml: () => route('backend-request-timeout', `
- {matches: [{path: {type: PathPrefix, value: /backend-timeout}}], backendRefs: [${be(1)}], timeouts: {backendRequest: 500ms}}
- {matches: [{path: {type: PathPrefix, value: /disable-backend-timeout}}], backendRefs: [${be(1)}], timeouts: {backendRequest: 0s}}`),
    cases: [to('/backend-timeout', 1), answered('/backend-timeout?delay=1000', 504), to('/disable-backend-timeout?delay=1000', 1)],
  },
  {
    name: 'HTTPRouteCORS',
    routes: ['cors-multiple-origins-methods-headers', 'cors-wildcard-methods', 'cors-wildcard-origin', 'cors-wildcard-methods-headers'],
    yaml: () => [
      route('cors-multiple-origins-methods-headers', `
- {matches: [{path: {type: PathPrefix, value: /cors-1}}], backendRefs: [${be(1)}], filters: [{type: CORS, cors: {allowOrigins: ["https://www.foo.com", "https://*.bar.com"], allowMethods: [GET, OPTIONS], allowHeaders: [x-header-1, x-header-2], exposeHeaders: [x-header-3, x-header-4], allowCredentials: true, maxAge: 3600}}]}`),
      route('cors-wildcard-methods', `
- {matches: [{path: {type: PathPrefix, value: /cors-2}}], backendRefs: [${be(1)}], filters: [{type: CORS, cors: {allowOrigins: ["https://www.foo.com"], allowMethods: ["*"]}}]}`),
      route('cors-wildcard-origin', `
- {matches: [{path: {type: PathPrefix, value: /cors-wildcard-origin}}], backendRefs: [${be(1)}], filters: [{type: CORS, cors: {allowOrigins: ["*"], allowMethods: [PUT], allowCredentials: false}}]}`),
      route('cors-wildcard-methods-headers', `
- {matches: [{path: {type: PathPrefix, value: /cors-wildcard-methods-headers}}], backendRefs: [${be(1)}], filters: [{type: CORS, cors: {allowOrigins: ["*"], allowMethods: ["*"], allowHeaders: ["*"], allowCredentials: true}}]}
- {matches: [{path: {type: PathPrefix, value: /cors-wildcard-methods-headers-unauth}}], backendRefs: [${be(1)}], filters: [{type: CORS, cors: {allowOrigins: ["*"], allowMethods: ["*"], allowHeaders: ["*"], allowCredentials: false}}]}`),
    ].join('\n---\n'),
    cases: [
      preflight('/cors-1', 'https://www.foo.com', 'GET', 'x-header-1, x-header-2', { oneOf: CORS1_ALLOWED('https://www.foo.com') }),
      preflight('/cors-1', 'https://www.bar.com', 'GET', 'x-header-1, x-header-2', { oneOf: CORS1_ALLOWED('https://www.bar.com') }),
      preflight('/cors-1', 'https://xpto.www.bar.com', 'GET', 'x-header-1, x-header-2', { oneOf: CORS1_ALLOWED('https://xpto.www.bar.com') }),
      preflight('/cors-1', 'https://foobar.com', 'GET', undefined, { statuses: [200, 204, 403], response: { 'access-control-allow-origin': null } }),
      to('/cors-1', 1, { headers: { Origin: 'https://www.foo.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1, x-header-2' }, response: { 'access-control-allow-origin': 'https://www.foo.com' } }),
      to('/cors-1', 1, { headers: { Origin: 'https://www.bar.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1, x-header-2' }, response: { 'access-control-allow-origin': 'https://www.bar.com' } }),
      to('/cors-1', 1, { headers: { Origin: 'https://foobar.com', 'access-control-request-method': 'GET' }, response: { 'access-control-allow-origin': null } }),
      preflight('/cors-2', 'https://www.foo.com', 'POST', undefined, { oneOf: { 'access-control-allow-methods': ['POST', '*'] }, response: { 'access-control-allow-origin': 'https://www.foo.com', 'access-control-allow-credentials': null } }),
      preflight('/cors-wildcard-origin', 'https://foobar.com', 'PUT', undefined, { oneOf: { 'access-control-allow-origin': ['https://foobar.com', '*'], 'access-control-allow-methods': ['PUT'] }, response: { 'access-control-allow-credentials': null } }),
      preflight('/cors-wildcard-origin', 'https://foobar.com:12345', 'PUT', undefined, { oneOf: { 'access-control-allow-origin': ['https://foobar.com:12345', '*'], 'access-control-allow-methods': ['PUT'] }, response: { 'access-control-allow-credentials': null } }),
      to('/cors-wildcard-origin', 1, { method: 'PUT', headers: { Origin: 'https://foobar.com:12345' }, oneOf: { 'access-control-allow-origin': ['https://foobar.com:12345', '*'] } }),
      to('/cors-wildcard-origin', 1, { method: 'PUT', headers: { Origin: 'https://foobar.com' }, oneOf: { 'access-control-allow-origin': ['https://foobar.com', '*'] }, response: { 'access-control-allow-credentials': null } }),
      preflight('/cors-wildcard-methods-headers', 'https://other.foo.com', 'PUT', 'x-header-1, x-header-2', {
        oneOf: { 'access-control-allow-origin': ['https://other.foo.com'], 'access-control-allow-methods': ['PUT'], 'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1'], 'access-control-allow-credentials': ['true'] },
      }),
      preflight('/cors-wildcard-methods-headers-unauth', 'https://other.foo.com', 'PUT', 'x-header-1, x-header-2', {
        oneOf: { 'access-control-allow-origin': ['https://other.foo.com', '*'], 'access-control-allow-methods': ['PUT', '*'], 'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1', '*'] },
        response: { 'access-control-allow-credentials': null },
      }),
      to('/cors-wildcard-methods-headers', 1, { headers: { Origin: 'https://other.foo.com' }, oneOf: { 'access-control-allow-origin': ['https://other.foo.com'], 'access-control-allow-credentials': ['true'] } }),
      to('/cors-wildcard-methods-headers-unauth', 1, { headers: { Origin: 'https://other.foo.com' }, oneOf: { 'access-control-allow-origin': ['https://other.foo.com', '*'] }, response: { 'access-control-allow-credentials': null } }),
    ],
  },
  {
    name: 'HTTPRouteRetry',
    routes: ['retries'],
    yaml: () => route('retries', `
- {matches: [{path: {type: PathPrefix, value: /retry/code-500-attempts-3}}], retry: {codes: [500], attempts: 3}, backendRefs: [${be(3)}]}
- {matches: [{path: {type: PathPrefix, value: /retry/code-all-attempts-2}}], retry: {codes: [500, 502, 503, 504], attempts: 2}, backendRefs: [${be(3)}]}`),
    cases: [
      retry('/retry/code-500-attempts-3', 500, 2, 200), retry('/retry/code-500-attempts-3', 500, 4, 500), retry('/retry/code-500-attempts-3', 503, 2, 503),
      ...[500, 502, 503, 504].flatMap((code) => [retry('/retry/code-all-attempts-2', code, 1, 200), retry('/retry/code-all-attempts-2', code, 3, code)]),
    ],
  },
  {
    name: 'HTTPRouteBackendProtocolH2C',
    routes: ['backend-protocol-h2c'],
    yaml: () => `${protocolService()}\n---\n${route('backend-protocol-h2c', '- {backendRefs: [{name: infra-backend-v1-protocols, port: 8081}]}')}`,
    cases: [to('/', 1, { protocol: 'h2c' })],
    extra: async () => {
      // the backend was spoken to over HTTP/2 (the echo's h2c port only speaks that)
      assert.equal((await send({ path: '/', protocol: 'h2c' })).json().proto, 'HTTP/2.0');
    },
  },
  {
    name: 'HTTPRouteBackendProtocolWebSocket',
    routes: ['backend-protocol-ws'],
    yaml: () => `${protocolService()}\n---\n${route('backend-protocol-ws', '- {backendRefs: [{name: infra-backend-v1-protocols, port: 8082}]}')}`,
    cases: [to('/ws', 1, { protocol: 'ws' })],
  },
  {
    name: 'HTTPRouteInvalidBackendRefUnknownKind',
    routes: ['invalid-backend-ref-unknown-kind'],
    yaml: () => route('invalid-backend-ref-unknown-kind', '- {backendRefs: [{group: unknownkind.example.com, kind: NonExistent, name: infra-backend-v1, port: 8080}]}'),
    cases: [answered('/v2', 500)],
  },
  {
    name: 'HTTPRouteInvalidNonExistentBackendRef',
    routes: ['invalid-nonexistent-backend-ref'],
    yaml: () => route('invalid-nonexistent-backend-ref', `- {backendRefs: [{name: nonexistent, namespace: ${NS}, port: 8080}]}`),
    cases: [answered('/', 500)],
  },
  {
    name: 'HTTPRouteInvalidCrossNamespaceBackendRef',
    routes: ['invalid-cross-namespace-backend-ref'],
    yaml: () => `${WEB_BACKEND()}\n---\n${route('invalid-cross-namespace-backend-ref', '- {backendRefs: [{name: web-backend, namespace: gateway-conformance-web-backend, port: 8080}]}')}`,
    cases: [answered('/', 500)],
  },
  {
    name: 'HTTPRouteInvalidReferenceGrant',
    routes: ['invalid-reference-grant'],
    yaml: () => [
      WEB_BACKEND(),
      route('invalid-reference-grant', '- {backendRefs: [{name: web-backend, namespace: gateway-conformance-web-backend, port: 8080}]}'),
      grant('reference-grant-wrong-namespace', NS),
      grant('reference-grant-wrong-from-group', 'gateway-conformance-web-backend', { fromGroup: 'not-the-group-youre-looking-for' }),
      grant('reference-grant-wrong-from-kind', 'gateway-conformance-web-backend', { fromKind: 'Gateway' }),
      grant('reference-grant-wrong-from-namespace', 'gateway-conformance-web-backend', { fromNs: 'not-the-namespace-youre-looking-for' }),
      grant('reference-grant-wrong-to-group', 'gateway-conformance-web-backend', { toGroup: 'not-the-group-youre-looking-for' }),
      grant('reference-grant-wrong-to-kind', 'gateway-conformance-web-backend', { toKind: 'Gateway' }),
      grant('reference-grant-wrong-to-name', 'gateway-conformance-web-backend', { toName: 'not-the-service-youre-looking-for' }),
    ].join('\n---\n'),
    cases: [answered('/', 500)],
  },
  {
    name: 'HTTPRouteHTTPSListenerDetectMisdirectedRequests', // upstream ShortName; named after its feature, GatewayHTTPSListenerDetectMisdirectedRequests, before
    routes: [1, 2, 3, 4].map((n) => `https-listener-detect-misdirected-requests-test-${n}`),
    yaml: () => [httpsGateway(), misdirected(1, 'https', 1, 'example.org'), misdirected(2, 'https-with-hostname', 2), misdirected(3, 'https-with-wildcard-hostname', 3), misdirected(4, 'https-with-hostname-matching-wildcard', 1)].join('\n---\n'),
    cases: [
      overTls('example.org', 'example.org', 1), overTls('example.org', 'second-example.org', 421), overTls('example.org', 'unknown-example.org', 404),
      overTls('second-example.org', 'second-example.org', 2), overTls('second-example.org', 'example.org', 421), overTls('second-example.org', 'unknown-example.org', 421),
      overTls('third-example.wildcard.org', 'third-example.wildcard.org', 3), overTls('third-example.wildcard.org', 'fith-example.wildcard.org', 3),
      overTls('third-example.wildcard.org', 'fourth-example.wildcard.org', 421), overTls('third-example.wildcard.org', 'second-example.org', 421),
      overTls('third-example.wildcard.org', 'unknown-example.org', 421),
      overTls('fourth-example.wildcard.org', 'fourth-example.wildcard.org', 1), overTls('fourth-example.wildcard.org', 'fith-example.wildcard.org', 421),
      overTls('unknown-example.org', 'example.org', 1), overTls('unknown-example.org', 'unknown-example.org', 404),
    ],
  },
  {
    name: 'GatewayHTTPListenerIsolation',
    routes: ['empty-hostname', 'wildcard-example-com', 'wildcard-foo-example-com', 'abc-foo-example-com'].map((l) => `attaches-to-${l}`),
    yaml: () => {
      const gw = 'http-listener-isolation';
      const listeners = ['empty-hostname', 'wildcard-example-com', 'wildcard-foo-example-com', 'abc-foo-example-com'];
      const hostnames = ['', '"*.example.com"', '"*.foo.example.com"', 'abc.foo.example.com'];
      return [`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${gw}, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
${listeners.map((l, i) => `  - {name: ${l}, port: ${port}, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}${hostnames[i] ? `, hostname: ${hostnames[i]}` : ''}}`).join('\n')}`,
      ...listeners.map((l) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: attaches-to-${l}, namespace: ${NS}}
spec:
  parentRefs: [{name: ${gw}, namespace: ${NS}, sectionName: ${l}}]
  rules: [{matches: [{path: {type: PathPrefix, value: /${l}}}], backendRefs: [${be(1)}]}]`)].join('\n---\n');
    },
    // each host reaches exactly its own listener's route; the others' paths are 404 even where they would match
    cases: [['bar.com', 'empty-hostname'], ['bar.example.com', 'wildcard-example-com'], ['bar.foo.example.com', 'wildcard-foo-example-com'], ['abc.foo.example.com', 'abc-foo-example-com']]
      .flatMap(([host, own]) => ['empty-hostname', 'wildcard-example-com', 'wildcard-foo-example-com', 'abc-foo-example-com']
        .map((l) => (l === own ? to(`/${l}`, 1, { host }) : answered(`/${l}`, 404, { host })))),
  },
  statusRedirect('HTTPRoute303Redirect', '/see-other', 303, 'POST'),
  statusRedirect('HTTPRoute307Redirect', '/temporary', 307),
  statusRedirect('HTTPRoute308Redirect', '/permanent', 308),
  {
    name: 'HTTPRouteRedirectPortAndScheme',
    routes: ['http-route-for-listener-on-port-80', 'http-route-for-listener-on-port-443'],
    yaml: () => [
      httpsGateway(),
      route('http-route-for-listener-on-port-80', [
        redirectRule('/scheme-nil-and-port-nil', 'hostname: example.org'), redirectRule('/scheme-nil-and-port-80', 'port: 80, hostname: example.org'),
        redirectRule('/scheme-nil-and-port-8080', 'port: 8080, hostname: example.org'), redirectRule('/scheme-https-and-port-nil', 'scheme: https, hostname: example.org'),
        redirectRule('/scheme-https-and-port-443', 'scheme: https, port: 443, hostname: example.org'), redirectRule('/scheme-https-and-port-8443', 'scheme: https, port: 8443, hostname: example.org'),
      ].join('\n')),
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: http-route-for-listener-on-port-443, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: https}]
  rules:
${[
    redirectRule('/scheme-nil-and-port-nil', 'hostname: example.org'), redirectRule('/scheme-nil-and-port-443', 'port: 443, hostname: example.org'),
    redirectRule('/scheme-nil-and-port-8443', 'port: 8443, hostname: example.org'), redirectRule('/scheme-http-and-port-nil', 'scheme: http, hostname: example.org'),
    redirectRule('/scheme-http-and-port-80', 'scheme: http, port: 80, hostname: example.org'), redirectRule('/scheme-http-and-port-8080', 'scheme: http, port: 8080, hostname: example.org'),
  ].map((l) => `  ${l}`).join('\n')}`,
    ].join('\n---\n'),
    cases: [
      // HTTP listener (ours is not on 80, so "no port" keeps the listener's port)
      answered('/scheme-nil-and-port-nil', 302, { location: 'http://example.org:PORT/scheme-nil-and-port-nil' }),
      answered('/scheme-nil-and-port-80', 302, { location: 'http://example.org/scheme-nil-and-port-80' }),
      answered('/scheme-nil-and-port-8080', 302, { location: 'http://example.org:8080/scheme-nil-and-port-8080' }),
      answered('/scheme-https-and-port-nil', 302, { location: 'https://example.org/scheme-https-and-port-nil' }),
      answered('/scheme-https-and-port-443', 302, { location: 'https://example.org/scheme-https-and-port-443' }),
      answered('/scheme-https-and-port-8443', 302, { location: 'https://example.org:8443/scheme-https-and-port-8443' }),
      // HTTPS listener
      answered('/scheme-nil-and-port-nil', 302, { sni: 'example.org', host: 'example.org', location: 'https://example.org:TLSPORT/scheme-nil-and-port-nil' }),
      answered('/scheme-nil-and-port-443', 302, { sni: 'example.org', host: 'example.org', location: 'https://example.org/scheme-nil-and-port-443' }),
      answered('/scheme-nil-and-port-8443', 302, { sni: 'example.org', host: 'example.org', location: 'https://example.org:8443/scheme-nil-and-port-8443' }),
      answered('/scheme-http-and-port-nil', 302, { sni: 'example.org', host: 'example.org', location: 'http://example.org/scheme-http-and-port-nil' }),
      answered('/scheme-http-and-port-80', 302, { sni: 'example.org', host: 'example.org', location: 'http://example.org/scheme-http-and-port-80' }),
      answered('/scheme-http-and-port-8080', 302, { sni: 'example.org', host: 'example.org', location: 'http://example.org:8080/scheme-http-and-port-8080' }),
    ],
  },
  {
    name: 'HTTPRouteSimpleSameNamespace',
    routes: ['gateway-conformance-infra-test'],
    yaml: () => route('gateway-conformance-infra-test', `- {backendRefs: [${be(1)}]}`),
    cases: [to('/', 1)],
  },
  {
    name: 'HTTPRouteReferenceGrant',
    routes: ['reference-grant'],
    yaml: () => [WEB_BACKEND(), grant('reference-grant', 'gateway-conformance-web-backend'),
      route('reference-grant', '- {backendRefs: [{name: web-backend, namespace: gateway-conformance-web-backend, port: 8080}]}')].join('\n---\n'),
    // web-backend is served by backend v1's process
    cases: [to('/', 1)],
  },
  {
    name: 'HTTPRoutePartiallyInvalidViaInvalidReferenceGrant',
    routes: ['invalid-reference-grant'],
    yaml: () => {
      const app = 'gateway-conformance-app-backend';
      return [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${app}}`,
        localServiceYaml('app-backend-v1', 8080, backends[0]!.port, { namespace: app }), localServiceYaml('app-backend-v2', 8080, backends[1]!.port, { namespace: app }),
        grant('invalid-reference-grant', app, { toName: 'app-backend-v1' }),
        route('invalid-reference-grant', `
- {matches: [{path: {type: PathPrefix, value: /v2}}], backendRefs: [{name: app-backend-v2, namespace: ${app}, port: 8080}]}
- {backendRefs: [{name: app-backend-v1, namespace: ${app}, port: 8080}]}`)].join('\n---\n');
    },
    cases: [answered('/v2', 500), to('/', 1)],
  },
  {
    name: 'HTTPRouteNamedRule',
    routes: ['http-named-rules'],
    yaml: () => route('http-named-rules', `
- {name: named-rule, matches: [{path: {type: PathPrefix, value: /named}}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /unnamed}}], backendRefs: [${be(2)}]}`),
    cases: [to('/named', 1), to('/unnamed', 2)],
  },
  {
    name: 'HTTPRouteNoBackendRefs', // upstream ShortName (HTTPRouteOmittedBackendRefs here before)
    routes: ['omitted-backendrefs'],
    yaml: () => route('omitted-backendrefs', `
- {matches: [{path: {type: Exact, value: /omitted-no-forward}}]}
- {matches: [{path: {type: Exact, value: /empty-no-forward}}], backendRefs: []}
- {matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [${be(1)}]}`),
    cases: [to('/forward', 1), answered('/omitted-no-forward', 500), answered('/empty-no-forward', 500)],
  },
  {
    name: 'HTTPRouteListenerPortMatching',
    routes: ['backend-v1', 'backend-v2', 'backend-v3'],
    yaml: () => {
      const gw = 'httproute-listener-port-matching';
      // upstream's ports 80, 8080 and 8090 are our port, port2 and port3
      const l = (n: number, p: number, host: string) => `  - {name: listener-${n}, port: ${p}, protocol: HTTP, hostname: ${host}, allowedRoutes: {namespaces: {from: Same}}}`;
      const r = (name: string, p: number, v: 1 | 2 | 3, section = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [{name: ${gw}, namespace: ${NS}, port: ${p}${section ? `, sectionName: ${section}` : ''}}]
  rules: [{backendRefs: [${be(v)}]}]`;
      return [`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${gw}, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
${[l(1, port, 'foo.com'), l(2, port2, 'foo.com'), l(3, port2, 'bar.com'), l(4, port3, 'foo.com'), l(5, port3, 'bar.com')].join('\n')}`,
      r('backend-v1', port, 1), r('backend-v2', port2, 2), r('backend-v3', port3, 3, 'listener-4')].join('\n---\n');
    },
    cases: [
      to('/', 1, { host: 'foo.com' }), to('/', 2, { host: 'foo.com:8080', via: 2 }), to('/', 2, { host: 'bar.com:8080', via: 2 }),
      to('/', 3, { host: 'foo.com:8090', via: 3 }), answered('/', 404, { host: 'bar.com:8090', via: 3 }),
    ],
  },
  {
    name: 'HTTPRouteMultipleGateways',
    routes: ['multiple-gateways-shared-route', 'same-namespace-dedicated-route', 'all-namespaces-dedicated-route'],
    yaml: () => [`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: all-namespaces, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: ${port2}, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}]`,
    route('multiple-gateways-shared-route', `- {matches: [{path: {type: PathPrefix, value: /shared}}], backendRefs: [${be(1)}]}`).replace('parentRefs: [{name: same-namespace}]', 'parentRefs: [{name: same-namespace}, {name: all-namespaces}]'),
    route('same-namespace-dedicated-route', `- {matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [${be(2)}]}`),
    route('all-namespaces-dedicated-route', `- {matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [${be(3)}]}`).replace('parentRefs: [{name: same-namespace}]', 'parentRefs: [{name: all-namespaces}]'),
    ].join('\n---\n'),
    cases: [to('/shared', 1), to('/', 2), to('/shared', 1, { via: 2 }), to('/', 3, { via: 2 })],
  },
  {
    name: 'HTTPRouteHTTPSListener',
    routes: ['httproute-https-test', 'httproute-https-test-no-hostname'],
    yaml: () => [httpsGateway(), `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: httproute-https-test, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace-with-https-listener}]
  hostnames: [example.org]
  rules: [{backendRefs: [${be(1)}]}]`, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: httproute-https-test-no-hostname, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace-with-https-listener, sectionName: https-with-hostname}]
  rules: [{backendRefs: [${be(2)}]}]`].join('\n---\n'),
    cases: [
      to('/', 1, { sni: 'example.org', host: 'example.org' }), answered('/', 404, { sni: 'unknown-example.org', host: 'unknown-example.org' }),
      to('/', 2, { sni: 'second-example.org', host: 'second-example.org' }),
    ],
  },
  {
    name: 'HTTPRouteCrossNamespace',
    routes: [],
    yaml: () => {
      const web = 'gateway-conformance-web-backend';
      return [`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${web}, labels: {gateway-conformance: backend}}`,
        localServiceYaml('web-backend', 8080, backends[0]!.port, { namespace: web }),
        `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: backend-namespaces, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: ${port2}, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {gateway-conformance: backend}}}}}]`,
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross-namespace, namespace: ${web}}
spec:
  parentRefs: [{name: backend-namespaces, namespace: ${NS}}]
  rules: [{backendRefs: [{name: web-backend, port: 8080}]}]`].join('\n---\n');
    },
    // web-backend is served by backend v1's process
    cases: [to('/', 1, { via: 2 })],
  },
  {
    name: 'HTTPRouteRequestHeaderModifierBackendWeights',
    routes: ['request-header-modifier-backend-weights'],
    yaml: () => {
      const ref = (v: 1 | 2) => be(v, `weight: 10, filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: Backend, value: infra-backend-v${v}}]}}]`);
      return route('request-header-modifier-backend-weights', `- {backendRefs: [${ref(1)}, ${ref(2)}]}`);
    },
    cases: [{ path: '/', status: 200 }],
    extra: async () => {
      // each backend gets the header its own backendRef sets, never the other's
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const body = (await request(port, '/', { host: 'example.com' })).json();
        assert.equal(body.headers.backend, body.name);
        seen.add(body.name);
      }
      assert.equal(seen.size, 2, 'both backends chosen');
    },
  },
  {
    // the selector-only headless Service (endpoints from Pods) and the IPv6 slices are left out:
    // the backends here are local processes on 127.0.0.1
    name: 'HTTPRouteServiceTypes',
    routes: ['service-types'],
    yaml: () => {
      const v1 = backends[0]!;
      const svc = (name: string, headless: boolean) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${NS}}
spec: {${headless ? 'clusterIP: None, ' : ''}ports: [{name: first-port, protocol: TCP, port: 8080, targetPort: 3000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-ip4, namespace: ${NS}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
ports: [{name: first-port, port: ${v1.port}, protocol: TCP}]`;
      return [svc('manual-endpointslices', false), svc('headless-manual-endpointslices', true), route('service-types', `
- {matches: [{path: {type: Exact, value: /manual-endpointslices}}], backendRefs: [{name: manual-endpointslices, port: 8080}]}
- {matches: [{path: {type: Exact, value: /headless-manual-endpointslices}}], backendRefs: [{name: headless-manual-endpointslices, port: 8080}]}`)].join('\n---\n');
    },
    cases: [to('/manual-endpointslices', 1), to('/headless-manual-endpointslices', 1)],
  },
  {
    name: 'ListenerSetHTTPRouting',
    routes: ['attaches-to-all-listeners', 'gateway-route', 'gateway-section-route', 'listener-set-http-routing-1-route', 'listener-set-http-routing-1-section-route', 'listener-set-http-routing-2-route'],
    yaml: () => {
      const gw = 'gateway-with-listener-sets-http-routing';
      // upstream's port 80 is our port; every listener has its own hostname
      const l = (name: string) => `  - {name: ${name}, port: ${port}, protocol: HTTP, hostname: ${name}.com, allowedRoutes: {namespaces: {from: All}}}`;
      const set = (n: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: listener-set-http-routing-${n}, namespace: ${NS}, generation: 1}
spec:
  parentRef: {kind: Gateway, group: gateway.networking.k8s.io, name: ${gw}, namespace: ${NS}}
  listeners:
${l(`listener-set-http-routing-${n}-listener-1`)}
${l(`listener-set-http-routing-${n}-listener-2`)}`;
      const toGw = `{name: ${gw}, namespace: ${NS}}`;
      const toSet = (n: number, section = '') => `{kind: ListenerSet, group: gateway.networking.k8s.io, name: listener-set-http-routing-${n}, namespace: ${NS}${section ? `, sectionName: ${section}` : ''}}`;
      const r = (name: string, parents: string[], prefix: string, v: 1 | 2 | 3) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [${parents.join(', ')}]
  rules: [{matches: [{path: {type: PathPrefix, value: ${prefix}}}], backendRefs: [${be(v)}]}]`;
      return [`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${gw}, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  allowedListeners: {namespaces: {from: All}}
  listeners:
${l('gateway-listener-1')}
${l('gateway-listener-2')}`, set(1), set(2),
      r('attaches-to-all-listeners', [toGw, toSet(1), toSet(2)], '/route', 1),
      r('gateway-route', [toGw], '/gateway-route', 2),
      r('gateway-section-route', [`{name: ${gw}, namespace: ${NS}, sectionName: gateway-listener-1}`], '/gateway-section-route', 3),
      r('listener-set-http-routing-1-route', [toSet(1)], '/listener-set-http-routing-1-route', 2),
      r('listener-set-http-routing-1-section-route', [toSet(1, 'listener-set-http-routing-1-listener-1')], '/listener-set-http-routing-1-section-route', 3),
      r('listener-set-http-routing-2-route', [toSet(2)], '/listener-set-http-routing-2-route', 2)].join('\n---\n');
    },
    // every path on every listener's host: the backend where upstream expects one, else 404
    cases: (() => {
      const gw = ['gateway-listener-1', 'gateway-listener-2'];
      const ls1 = ['listener-set-http-routing-1-listener-1', 'listener-set-http-routing-1-listener-2'];
      const ls2 = ['listener-set-http-routing-2-listener-1', 'listener-set-http-routing-2-listener-2'];
      const all = [...gw, ...ls1, ...ls2];
      const served: [string, string[], 1 | 2 | 3][] = [
        ['/route', all, 1], ['/gateway-route', gw, 2], ['/gateway-section-route', ['gateway-listener-1'], 3],
        ['/listener-set-http-routing-1-route', ls1, 2], ['/listener-set-http-routing-1-section-route', ['listener-set-http-routing-1-listener-1'], 3],
        ['/listener-set-http-routing-2-route', ls2, 2],
      ];
      return served.flatMap(([path, on, v]) => all.map((l) => (on.includes(l) ? to(path, v, { host: `${l}.com` }) : answered(path, 404, { host: `${l}.com` }))));
    })(),
  },
  {
    // The invalid default only touches HTTPS: the HTTP listener serves, the HTTPS one is refused.
    name: 'GatewayFrontendInvalidDefaultClientCertificateValidation',
    routes: ['invalid-default-client-validation-config'],
    yaml: () => `${tlsSecretYaml('tls-validity-checks-certificate', cert, NS)}
---
${caConfigMapYaml('tls-validity-checks-per-port-ca-certificate', cert.caPem, NS)}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: invalid-default-client-validation-config, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  tls:
    frontend:
      default: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: does-not-exist}]}}
      perPort: [{port: ${port}, tls: {validation: {caCertificateRefs: [{kind: ConfigMap, group: "", name: tls-validity-checks-per-port-ca-certificate}]}}}]
  listeners:
  - {name: https, port: ${tlsPort}, protocol: HTTPS, allowedRoutes: {namespaces: {from: Same}}, tls: {certificateRefs: [{group: "", kind: Secret, name: tls-validity-checks-certificate, namespace: ${NS}}]}}
  - {name: http, port: ${port}, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: invalid-default-client-validation-config, namespace: ${NS}}
spec:
  parentRefs: [{name: invalid-default-client-validation-config}]
  hostnames: [example.org]
  rules: [{backendRefs: [${be(1)}]}]`,
    cases: [to('/', 1, { host: 'example.org' })],
    extra: async () => {
      // upstream: the TLS request fails (here: nothing accepts it, or the handshake is refused)
      await assert.rejects(send({ path: '/', sni: 'example.org', host: 'example.org' }), 'the HTTPS listener must not serve');
    },
  },
  {
    // Not an upstream conformance test (v1.6 has none for ExternalAuth): the filter from YAML,
    // over HTTP (infra-backend-v2 is the auth service; /status/403 makes it deny) and over gRPC
    // (test/support/grpc-authz.ts: "Bearer good" is allowed, anything else gets 401).
    name: 'HTTPRouteExternalAuth',
    routes: ['external-auth'],
    yaml: () => {
      const httpAuth = (path: string) => `{type: ExternalAuth, externalAuth: {protocol: HTTP, backendRef: ${be(2)}, http: {path: ${path}, allowedHeaders: [authorization], allowedResponseHeaders: [x-backend]}}}`;
      return `${localServiceYaml('ext-authz', 9000, authzPort, { namespace: NS })}
---
${route('external-auth', `
- {matches: [{path: {type: PathPrefix, value: /auth-http}}], filters: [${httpAuth('/')}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /auth-deny}}], filters: [${httpAuth('/status/403')}], backendRefs: [${be(1)}]}
- {matches: [{path: {type: PathPrefix, value: /auth-grpc}}], filters: [{type: ExternalAuth, externalAuth: {protocol: GRPC, backendRef: {name: ext-authz, port: 9000}, grpc: {}}}], backendRefs: [${be(1)}]}`)}`;
    },
    cases: [
      // allowed: the auth service's x-backend reaches the backend (allowedResponseHeaders)
      to('/auth-http/x', 1, { headers: { authorization: 'Bearer t' }, seen: { 'x-backend': 'infra-backend-v2' } }),
      answered('/auth-deny/x', 403),
      to('/auth-grpc/x', 1, { headers: { authorization: 'Bearer good' }, seen: { 'x-auth-user': 'alice' } }),
      answered('/auth-grpc/x', 401, { headers: { authorization: 'Bearer bad' }, response: { 'www-authenticate': 'Bearer' } }),
      answered('/auth-grpc/x', 401),
    ],
    extra: async () => {
      // the HTTP auth service saw the request's path and its allowed header
      const seen = (await backends[1]!.log()).filter((e) => e.path === '/auth-http/x');
      assert.ok(seen.some((e) => e.headers.authorization === 'Bearer t'), JSON.stringify(seen));
      assert.equal((await backends[0]!.log()).some((e) => e.path === '/auth-deny/x'), false, 'a denied request never reaches the backend');
    },
  },
  {
    // Not an upstream conformance test in v1.6: sessionPersistence from YAML, by cookie and by
    // header, over two equally weighted backends. Each request is a new connection, so with
    // worker processes the session must hold whichever process answers.
    name: 'HTTPRouteSessionPersistence',
    routes: ['session-persistence'],
    yaml: () => route('session-persistence', `
- {matches: [{path: {type: PathPrefix, value: /cookie}}], sessionPersistence: {sessionName: sticky, type: Cookie}, backendRefs: [${be(1)}, ${be(2)}]}
- {matches: [{path: {type: PathPrefix, value: /header}}], sessionPersistence: {sessionName: X-Session, type: Header}, backendRefs: [${be(1)}, ${be(2)}]}
- {matches: [{path: {type: PathPrefix, value: /none}}], backendRefs: [${be(1)}, ${be(2)}]}`),
    cases: [{ path: '/none', status: 200 }],
    extra: async () => {
      const names = async (path: string, headers: Record<string, string>, n: number) => {
        const out = new Set<string>();
        for (let i = 0; i < n; i++) out.add((await request(port, path, { host: 'example.com', headers })).json().name);
        return out;
      };
      assert.equal((await names('/none', {}, 30)).size, 2, 'without persistence both backends answer');
      for (let session = 0; session < 3; session++) {
        const first = await request(port, '/cookie', { host: 'example.com' });
        const setCookie = String(first.headers['set-cookie']?.[0] ?? '');
        assert.match(setCookie, /^sticky=[^;]+/, 'a session cookie');
        const pinned = await names('/cookie', { cookie: setCookie.split(';')[0]! }, 12);
        assert.deepEqual([...pinned], [first.json().name], 'the cookie pins the backend');
        const h = await request(port, '/header', { host: 'example.com' });
        const token = h.headers['x-session'];
        assert.ok(typeof token === 'string' && token.length > 0, 'a session header');
        const byHeader = await names('/header', { 'X-Session': token }, 12);
        assert.deepEqual([...byHeader], [h.json().name], 'the header pins the backend');
      }
    },
  },
];
