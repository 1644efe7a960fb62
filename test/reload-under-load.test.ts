// Live reconfiguration end to end: a real `portico run -f DIR` process (default workers, i.e.
// node:cluster workers) and real echo backend processes, under a steady load of 200 concurrent
// keep-alive connections, takes 100 route changes, 10 listener additions and removals and one
// backend endpoint change. Every response is counted: none may fail (connection error or 5xx),
// and each must come from a configuration that was live while it was in flight.
//
// How "live" is checked: route generation N sets the response header `x-gen: N` on every rule.
// After each write the test polls /config until the translation carrying N appears, then waits
// for the process to log that IR generation as live. A request started after generation L was
// seen live must answer x-gen >= L, and no response may carry an x-gen newer than the newest
// written. The endpoint change is checked the same way on the backend's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, NODE, eventually, stop, tempDir, waitForOutput } from './cli-helpers.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { GATEWAY_CLASS_YAML } from './support/manifests.ts';

const CONNECTIONS = 200;
const ROUTE_CHANGES = 100;
const LISTENER_CHANGES = 10;

/** Writes a file atomically (the watcher must never see half a manifest). */
function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function gatewayYaml(stable: number, extra?: number): string {
  const listeners = [`  - {name: stable, port: ${stable}, protocol: HTTP}`];
  if (extra !== undefined) listeners.push(`  - {name: extra, port: ${extra}, protocol: HTTP}`);
  return `${GATEWAY_CLASS_YAML}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default, generation: 1}
spec:
  gatewayClassName: portico
  listeners:
${listeners.join('\n')}
`;
}

/** Services svc-a and svc-b; svc-a's EndpointSlice points at `aTarget` (the endpoint change). */
function servicesYaml(aTarget: number, bTarget: number): string {
  const svc = (name: string, target: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec: {ports: [{port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: default, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
ports: [{port: ${target}}]`;
  return `${svc('svc-a', aTarget)}\n---\n${svc('svc-b', bTarget)}\n`;
}

/**
 * Route generation n: the header match moves between two rules, the weights change, and a path
 * rule is added; every rule stamps x-gen: n on its responses.
 */
function routeYaml(n: number): string {
  const gen = `filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-gen, value: "${n}"}]}}]`;
  const headerOnHdr = n % 2 === 0;
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: load, namespace: default, generation: ${n}}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /hdr}${headerOnHdr ? ', headers: [{name: x-h, value: "1"}]' : ''}}]
    ${gen}
    backendRefs: [{name: svc-b, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /}${headerOnHdr ? '' : ', headers: [{name: x-h, value: "1"}]'}}, {path: {type: PathPrefix, value: /}}]
    ${gen}
    backendRefs: [{name: svc-a, port: 8080, weight: ${n % 3}}, {name: svc-b, port: 8080, weight: ${1 + (n % 4)}}]
  - matches: [{path: {type: Exact, value: /added-${n}}}]
    ${gen}
    backendRefs: [{name: svc-a, port: 8080}]
`;
}

/** The x-gen values set anywhere in an IR (JSON as /config returns it). */
function xgens(node: unknown, out: Set<number> = new Set()): Set<number> {
  if (Array.isArray(node)) for (const x of node) xgens(x, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.name === 'x-gen' && typeof o.value === 'string') out.add(Number(o.value));
    for (const v of Object.values(o)) xgens(v, out);
  }
  return out;
}

interface ConfigDoc { generation: number; gateways: { listeners: { port: number }[] }[] }

test('reload under load: 100 route changes, 10 listener add/remove, 1 endpoint change, 200 connections, zero failures', { timeout: 120_000 }, async (t) => {
  const [a, b, c] = await Promise.all([startEcho('a'), startEcho('b'), startEcho('c')]);
  t.after(() => Promise.all([a, b, c].map((e: EchoBackend) => e.close())));
  const dir = tempDir(t, 'portico-reload-load-');
  const stable = await freePort();
  writeAtomic(join(dir, 'gateway.yaml'), gatewayYaml(stable));
  writeAtomic(join(dir, 'services.yaml'), servicesYaml(a.port, b.port));
  writeAtomic(join(dir, 'route.yaml'), routeYaml(0));

  // Default workers: no --workers flag.
  const child = spawn(NODE, [MAIN, 'run', '-f', dir, '--admin-address', '127.0.0.1:0', '--bind-address', '127.0.0.1', '--no-access-log'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => stop(child));
  let stderr = '';
  let liveIr = 0; // highest IR generation the process logged as live
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const m of d.matchAll(/configuration generation (\d+) is live/g)) liveIr = Math.max(liveIr, Number(m[1]));
  });
  const [, admin] = await waitForOutput(child, /admin API on (http:\/\/\S+)/);

  /** Waits until /config satisfies `ok` and that IR generation is live in the data plane. */
  const untilLive = async (ok: (cfg: ConfigDoc) => boolean, what: string) => {
    const cfg = await eventually(async () => {
      const doc = await (await fetch(`${admin}/config`)).json() as ConfigDoc | null;
      return doc && ok(doc) ? doc : undefined;
    }, 20_000, what);
    await eventually(async () => (liveIr >= cfg.generation ? true : undefined), 20_000, `${what} live (IR ${cfg.generation}); stderr:\n${stderr}`);
  };
  const hasGen = (n: number) => (cfg: ConfigDoc) => xgens(cfg).has(n) && xgens(cfg).size === 1;
  await untilLive(hasGen(0), 'first configuration');

  // What the load checks against, updated by the change loop.
  let liveGen = 0; // newest route generation seen live
  let newestGen = 0; // newest route generation written
  let endpointWritten = false; // svc-a → c written
  let endpointLive = false; // … and seen live

  let stopping = false;
  let ok = 0;
  const failures: string[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const loop = async (i: number) => {
    const hdr = i % 2 === 0;
    while (!stopping) {
      const minGen = liveGen;
      const afterEndpoint = endpointLive;
      try {
        const r = await request(stable, `${hdr ? '/hdr' : '/load'}?delay=50`, { host: 'x', agent, headers: hdr ? { 'x-h': '1' } : {} });
        const gen = Number(r.headers['x-gen']);
        const name = r.status === 200 ? r.json().name : '';
        if (r.status !== 200) failures.push(`status ${r.status}: ${r.body.slice(0, 200)}`);
        else if (!(gen >= minGen && gen <= newestGen)) failures.push(`x-gen ${r.headers['x-gen']} outside [${minGen}, ${newestGen}]`);
        else if (afterEndpoint && name === 'a') failures.push('answered by the old endpoint after the endpoint change was live');
        else if (!endpointWritten && name === 'c') failures.push('answered by the new endpoint before the endpoint change was written');
        else ok++;
      } catch (e) {
        failures.push(`connection ${i}: ${(e as Error).message}`);
      }
    }
  };
  const loops = Array.from({ length: CONNECTIONS }, (_, i) => loop(i));

  try {
    let listenerChanges = 0;
    let extraServed = 0;
    for (let n = 1; n <= ROUTE_CHANGES; n++) {
      newestGen = n;
      writeAtomic(join(dir, 'route.yaml'), routeYaml(n));
      await untilLive(hasGen(n), `route generation ${n}`);
      liveGen = n;

      if (n === 50) {
        endpointWritten = true;
        writeAtomic(join(dir, 'services.yaml'), servicesYaml(c.port, b.port));
        await untilLive((cfg) => JSON.stringify(cfg).includes(`"port": ${c.port}`) || JSON.stringify(cfg).includes(`"port":${c.port}`), 'endpoint change');
        endpointLive = true;
      }

      if (n % 10 === 5 && listenerChanges < LISTENER_CHANGES) {
        // add a listener on a new port, use it, remove it; the stable listener keeps serving
        const extra = await freePort();
        writeAtomic(join(dir, 'gateway.yaml'), gatewayYaml(stable, extra));
        await untilLive((cfg) => cfg.gateways.some((g) => g.listeners.some((l) => l.port === extra)), `listener on ${extra} added`);
        const r = await request(extra, '/load', { host: 'x' });
        assert.equal(r.status, 200, `new listener on ${extra} serves`);
        assert.equal(r.headers['x-gen'], String(n));
        extraServed++;
        writeAtomic(join(dir, 'gateway.yaml'), gatewayYaml(stable));
        await untilLive((cfg) => !cfg.gateways.some((g) => g.listeners.some((l) => l.port === extra)), `listener on ${extra} removed`);
        await assert.rejects(request(extra, '/load', { host: 'x' }), 'removed listener no longer accepts');
        listenerChanges++;
      }
    }
    assert.equal(listenerChanges, LISTENER_CHANGES);
    assert.equal(extraServed, LISTENER_CHANGES);
  } finally {
    stopping = true;
    await Promise.all(loops);
    agent.destroy();
  }

  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failed of ${ok + failures.length}`);
  assert.ok(ok >= CONNECTIONS, `only ${ok} responses`);
  // the endpoint change took: svc-a is now served by c
  const last = await request(stable, '/added-100', { host: 'x' });
  assert.equal(last.json().name, 'c');
  assert.equal(last.headers['x-gen'], '100');
  t.diagnostic(`${ok} responses, 0 failed`);
});
