// The HTTP conformance scenarios end to end: one real `portico run -f DIR` process with its
// default worker processes (the multi-process data plane), real echo backend processes, real
// sockets. The same table as test/http-conformance.test.ts (test/support/http-scenarios.ts):
// each scenario's manifests replace the previous scenario's file in DIR, the test waits until
// that configuration is live in every worker, checks the scenario's routes are Accepted in the
// admin API's /status, then replays the scenario's requests and expectations.
//
// How "live" is known: DIR also holds a marker Gateway on a port of its own, and each scenario's
// file a marker route stamping `x-scenario: N`. The test polls /config until the IR carrying N
// appears, then waits for the process to log that IR generation as live (logged once every
// worker runs it).
//
// After the table: the access log and --debug-headers of this process, its /metrics, and a
// second process for --no-access-log, no --debug-headers and the addresses listeners bind
// (spec.addresses and --bind-address).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MAIN, NODE, eventually, stop, waitForOutput, waitReady } from './cli-helpers.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { makeCA, makeCert } from './support/tls-certs.ts';
import { GATEWAY_CLASS_YAML, localServiceYaml } from './support/manifests.ts';
import { check, infra, NAMES, NS, scenarios, useScenarioEnv, type Scenario } from './support/http-scenarios.ts';
import { startAuthz, type Authz } from './support/grpc-authz.ts';

/** A running `portico run` child: its admin URL and what it printed. */
interface Proc {
  child: ChildProcessByStdio<null, Readable, Readable>;
  admin: string;
  stdout: () => string;
  stderr: () => string;
  /** Highest IR generation the process logged as live. */
  liveIr: () => number;
}

/** Starts `portico run -f dir ARGS…` with the admin API on an ephemeral port; ready once /readyz is 200. */
async function startPortico(dir: string, args: string[]): Promise<Proc> {
  const child = spawn(NODE, [MAIN, 'run', '-f', dir, '--admin-address', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let liveIr = 0;
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const m of d.matchAll(/configuration generation (\d+) is live/g)) liveIr = Math.max(liveIr, Number(m[1]));
  });
  const [, admin] = await waitForOutput(child, /admin API on (http:\/\/\S+)/);
  await waitReady(admin!);
  return { child, admin: admin!, stdout: () => stdout, stderr: () => stderr, liveIr: () => liveIr };
}

/** Writes a file atomically (the watcher must never see half a manifest). */
function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** A GET to `address:port` (client.ts's request() always dials 127.0.0.1). */
function getAt(address: string, port: number, path: string, host = 'example.com'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address, port, path, headers: { host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const refused = (p: Promise<unknown>, what: string) => assert.rejects(p, (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED', what);

let backends: EchoBackend[] = [];
let authz: Authz | undefined;
let dir = '';
let main: Proc | undefined;
let port = 0;
let markerPort = 0;
let seq = 0;

before(async () => {
  backends = await Promise.all(NAMES.map((n) => startEcho(n)));
  authz = await startAuthz();
  let tlsPort: number, port2: number, port3: number;
  [port, tlsPort, port2, port3, markerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const cert = await makeCert(await makeCA(), { dns: ['example.org', 'second-example.org', 'unknown-example.org', '*.wildcard.org'] });
  useScenarioEnv({ port, tlsPort, port2, port3, cert, backends, authzPort: authz.port });
  dir = mkdtempSync(join(tmpdir(), 'portico-http-e2e-'));
  writeAtomic(join(dir, 'infra.yaml'), `${GATEWAY_CLASS_YAML}\n---\n${infra()}\n---\napiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: e2e-marker, namespace: ${NS}, generation: 1}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: ${markerPort}, protocol: HTTP}]
`);
  writeAtomic(join(dir, 'scenario.yaml'), marker(0));
  // Default workers (no --workers), access log on (the default), debug headers on.
  main = await startPortico(dir, ['--bind-address', '127.0.0.1', '--debug-headers']);
  await untilLive(0);
});

after(async () => {
  if (main) await stop(main.child);
  await Promise.all(backends.map((b) => b.close()));
  authz?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The marker route: stamps x-scenario: n, which tells this scenario's IR from the previous one's. */
function marker(n: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: e2e-marker, namespace: ${NS}}
spec:
  parentRefs: [{name: e2e-marker}]
  rules: [{filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-scenario, value: "${n}"}]}}], backendRefs: [{name: infra-backend-v1, port: 8080}]}]
`;
}

/** True when the IR (JSON as /config returns it) sets x-scenario: n somewhere. */
function stamps(node: unknown, n: number): boolean {
  if (Array.isArray(node)) return node.some((x) => stamps(x, n));
  if (!node || typeof node !== 'object') return false;
  const o = node as Record<string, unknown>;
  if (o.name === 'x-scenario' && o.value === String(n)) return true;
  return Object.values(o).some((v) => stamps(v, n));
}

/** Waits until the translation carrying marker n is live in every worker of the main process. */
async function untilLive(n: number): Promise<void> {
  const p = main!;
  const cfg = await eventually(async () => {
    const doc = await (await fetch(`${p.admin}/config`)).json() as { generation: number } | null;
    return doc && stamps(doc, n) ? doc : undefined;
  }, 20_000, `scenario ${n} in /config; stderr:\n${p.stderr().slice(-2000)}`);
  await eventually(async () => (p.liveIr() >= cfg.generation ? true : undefined), 20_000, `IR ${cfg.generation} live; stderr:\n${p.stderr().slice(-2000)}`);
}

interface StatusItem { kind: string; metadata: { name: string; namespace?: string }; status?: { parents?: { conditions: { type: string; status: string; message?: string }[] }[] } }

/** Makes a scenario's manifests the live configuration and checks its routes are Accepted. */
async function serve(s: Pick<Scenario, 'name' | 'yaml' | 'routes'>): Promise<void> {
  const n = ++seq;
  const before = main!.stderr().length;
  writeAtomic(join(dir, 'scenario.yaml'), `${marker(n)}---\n${s.yaml()}\n`);
  await untilLive(n);
  const doc = await (await fetch(`${main!.admin}/status?output=json`)).json() as { items: StatusItem[] };
  for (const name of s.routes) {
    const st = doc.items.find((i) => i.kind === 'HTTPRoute' && i.metadata.namespace === NS && i.metadata.name === name)?.status;
    assert.ok(st?.parents?.length, `${name} has parent statuses`);
    for (const p of st.parents) assert.equal(p.conditions.find((c) => c.type === 'Accepted')?.status, 'True', `${name} Accepted: ${JSON.stringify(p.conditions)}`);
  }
  assert.doesNotMatch(main!.stderr().slice(before), /cannot listen on/, `${s.name}: every listener bound`);
}

for (const s of scenarios) {
  test(s.name, async () => {
    await serve(s);
    for (const c of s.cases) await check(c);
    await s.extra?.();
  });
}

/** The access log lines (JSON objects) the main process printed for requests to `path`. */
function accessLines(p: Proc, path: string): Record<string, unknown>[] {
  return p.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.path === path);
}

test('access log (on by default): one JSON line per request naming gateway, listener, route, rule and backend; --debug-headers names route and rule', async () => {
  const named = scenarios.find((s) => s.name === 'HTTPRouteNamedRule')!;
  await serve(named);
  const path = `/named/${randomUUID()}`;
  const r = await request(port, path, { host: 'example.com' });
  assert.equal(r.status, 200);
  assert.equal(r.json().name, NAMES[0]);
  const debug = String(r.headers['x-portico-route']);
  assert.match(debug, /http-named-rules/, 'the debug header names the route');
  assert.match(debug, /named-rule/, 'and the rule');
  const lines = await eventually(async () => {
    const l = accessLines(main!, path);
    return l.length > 0 ? l : undefined;
  }, 5000, 'the access log line');
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(accessLines(main!, path).length, 1, 'exactly one line for one request');
  const line = lines[0]!;
  assert.match(String(line.gateway), /same-namespace/);
  assert.equal(line.listener, 'http');
  assert.match(String(line.route), /http-named-rules/);
  assert.equal(line.rule, 'named-rule');
  assert.match(String(line.backend), /infra-backend-v1/);
  assert.equal(line.status, 200);
  assert.equal(line.method, 'GET');
});

test('GET /metrics of the real process: request counts by gateway/listener/route/rule/backend/status class, latency histograms, connections, generation and reloads', async () => {
  const named = scenarios.find((s) => s.name === 'HTTPRouteNamedRule')!;
  await serve(named);
  for (let i = 0; i < 5; i++) assert.equal((await request(port, '/named', { host: 'example.com' })).status, 200);
  assert.equal((await request(port, '/nothing-here', { host: 'example.com' })).status, 404);
  const text = await (await fetch(`${main!.admin}/metrics`)).text();
  const lines = text.split('\n');
  const value = (re: RegExp) => lines.filter((l) => re.test(l)).map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
  const ok = value(/^portico_http_requests_total\{gateway="[^"]*same-namespace[^"]*",listener="http",route="[^"]*http-named-rules[^"]*",rule="named-rule",backend="[^"]*infra-backend-v1[^"]*",code="2xx"\} /);
  assert.equal(ok.length, 1, `one 2xx series for the named rule:\n${lines.filter((l) => l.startsWith('portico_http_requests_total')).join('\n')}`);
  assert.ok(ok[0]! >= 5, `counted ${ok[0]}`);
  assert.ok(value(/^portico_http_requests_total\{.*code="4xx"\} /).some((v) => v >= 1), 'the 404 is counted as 4xx');
  assert.match(text, /# TYPE portico_http_request_duration_seconds histogram/);
  assert.ok(value(/^portico_http_request_duration_seconds_bucket\{gateway="[^"]*same-namespace[^"]*",listener="http",le="\+Inf"\} /).some((v) => v >= 6), 'request latency buckets');
  assert.match(text, /^portico_http_request_duration_seconds_bucket\{[^}]*le="0\.005"\} \d+$/m);
  assert.match(text, /# TYPE portico_upstream_response_seconds histogram/);
  assert.ok(value(/^portico_upstream_response_seconds_bucket\{backend="[^"]*infra-backend-v1[^"]*",le="\+Inf"\} /).some((v) => v >= 5), 'upstream latency buckets');
  assert.equal(value(/^portico_active_connections /).length, 1, 'active connections');
  const cfg = await (await fetch(`${main!.admin}/config`)).json() as { generation: number };
  assert.deepEqual(value(/^portico_config_generation /), [cfg.generation], 'the live generation');
  const reloads = value(/^portico_config_reloads_total /);
  assert.equal(reloads.length, 1);
  assert.ok(reloads[0]! >= seq, `reloads ${reloads[0]} after ${seq} scenarios`);
  assert.deepEqual(value(/^portico_config_reload_errors_total /), [0]);
});

/** Problems of a Prometheus text exposition: a sample outside its family's group, a family typed twice. */
function expositionProblems(text: string): string[] {
  const problems: string[] = [];
  const typed = new Set<string>();
  let family = '';
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) {
      if (typed.has(type[1]!)) problems.push(`${type[1]} typed twice`);
      typed.add(type[1]!);
      family = type[1]!;
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0];
    if (![family, `${family}_bucket`, `${family}_sum`, `${family}_count`].includes(name)) problems.push(`outside the group of ${name}'s family (after ${family}): ${line}`);
  }
  return problems;
}

// src/dataplane/metrics.ts mergeExpositions merges the workers' expositions: a series only a later
// worker has must stay in its own family's group (the text format wants each family's lines as
// one group), and a configuration counts once however many workers applied it.
test('metrics merged over the workers: each family one group; reloads counted once per configuration', async () => {
  const order = scenarios.find((s) => s.name === 'HTTPRoutePathMatchOrder')!;
  await serve(order);
  // six rules, one request each on a fresh connection: the workers take turns, so some series
  // exist in one worker only
  for (const c of order.cases) await check(c);
  const text = await (await fetch(`${main!.admin}/metrics`)).text();
  assert.deepEqual(expositionProblems(text), []);
  const one = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  assert.equal(one('portico_config_reloads_total'), one('portico_controller_reloads_total'));
});

test('second process: --no-access-log prints no access log, no debug header without --debug-headers; spec.addresses and --bind-address decide where listeners bind', async (t) => {
  const dir2 = mkdtempSync(join(tmpdir(), 'portico-http-e2e-bind-'));
  t.after(() => rmSync(dir2, { recursive: true, force: true }));
  const [pinnedPort, defaultPort] = await Promise.all([freePort(), freePort()]);
  const gw = (name: string, p: number, addresses: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: default, generation: 1}
spec:
  gatewayClassName: portico
${addresses}  listeners: [{name: http, port: ${p}, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: default}
spec:
  parentRefs: [{name: ${name}}]
  rules: [{name: all, backendRefs: [{name: web, port: 8080}]}]`;
  writeAtomic(join(dir2, 'all.yaml'), [GATEWAY_CLASS_YAML, localServiceYaml('web', 8080, backends[0]!.port),
    gw('pinned', pinnedPort, '  addresses: [{type: IPAddress, value: 127.0.0.2}]\n'), gw('default-address', defaultPort, '')].join('\n---\n'));
  const p = await startPortico(dir2, ['--bind-address', '127.0.0.3', '--no-access-log']);
  t.after(() => stop(p.child));

  // spec.addresses: 127.0.0.2 only
  const pinned = await getAt('127.0.0.2', pinnedPort, '/pinned');
  assert.equal(pinned.status, 200);
  assert.equal((JSON.parse(pinned.body) as { name: string }).name, NAMES[0]);
  assert.equal(pinned.headers['x-portico-route'], undefined, 'no debug header without --debug-headers');
  await refused(getAt('127.0.0.1', pinnedPort, '/pinned'), 'a Gateway with spec.addresses does not listen on 127.0.0.1');
  await refused(getAt('127.0.0.3', pinnedPort, '/pinned'), '… nor on the --bind-address');
  // no spec.addresses: the --bind-address only
  assert.equal((await getAt('127.0.0.3', defaultPort, '/default')).status, 200);
  await refused(getAt('127.0.0.1', defaultPort, '/default'), 'a Gateway without addresses binds the --bind-address, not 127.0.0.1');
  await refused(getAt('127.0.0.2', defaultPort, '/default'), '… nor another loopback address');

  await new Promise((res) => setTimeout(res, 300));
  assert.equal(p.stdout(), '', '--no-access-log: nothing on stdout');
});
