// Objects the API server would refuse, in file mode, with a real `portico run` on real files and
// real backends: the refused object is not served and its own status says why; everything else
// keeps serving; an update that makes a route invalid leaves its previous version serving;
// fixing it restores the normal status. `portico validate` and `portico status` agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { adminStatus, eventually, portico, startRun, stop, tempDir, waitReady } from './cli-helpers.ts';
import { startEcho } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { GATEWAY_CLASS_YAML } from './support/manifests.ts';

interface Cond { type: string; status: string; reason: string; message: string; observedGeneration?: number }
interface Item {
  kind: string;
  metadata: { namespace?: string; name: string; generation?: number };
  status: { conditions?: Cond[]; parents?: { parentRef: { name: string }; conditions: Cond[] }[] };
}

const base = (port: number) => `
${GATEWAY_CLASS_YAML}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, protocol: HTTP, port: ${port}}
`;

const backend = (name: string, port: number) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  ports: [{name: http, port: 80, targetPort: ${port}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  labels: {kubernetes.io/service-name: ${name}}
addressType: IPv4
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
ports: [{name: http, port: ${port}, protocol: TCP}]
`;

const route = (name: string, path: string, service: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: "${path}"}}]
    backendRefs: [{name: ${service}, port: 80}]
`;

// Two listeners with the same name: the API server refuses the whole Gateway.
const badGateway = (port: number) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw2}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, protocol: HTTP, port: ${port}}
  - {name: http, protocol: HTTP, port: ${port + 1}}
`;

const condition = (conds: Cond[] | undefined, type: string) => conds?.find((c) => c.type === type);

test('portico run: a refused route or Gateway says why in its own status; the rest, and the last valid version, keep serving', async (t) => {
  const dir = tempDir(t, 'portico-rejected-');
  const [a, b] = await Promise.all([startEcho('a'), startEcho('b')]);
  t.after(() => Promise.all([a.close(), b.close()]));
  const [port, port2] = await Promise.all([freePort(), freePort()]);
  writeFileSync(join(dir, 'base.yaml'), base(port) + '---' + backend('svc-a', a.port) + '---' + backend('svc-b', b.port));
  writeFileSync(join(dir, 'good.yaml'), route('good', '/good', 'svc-a'));
  writeFileSync(join(dir, 'flaky.yaml'), route('flaky', '/flaky', 'svc-b'));
  writeFileSync(join(dir, 'broken.yaml'), route('broken', 'no-leading-slash', 'svc-a'));
  writeFileSync(join(dir, 'gw2.yaml'), badGateway(port2));

  const { child, admin, stderr } = await startRun(t, dir);
  const items = async (): Promise<Item[]> => (await adminStatus<Item>(admin)).items;
  const item = async (kind: string, name: string) => (await items()).find((i) => i.kind === kind && i.metadata.name === name);
  await waitReady(admin);

  // Valid routes serve; the refused route and Gateway are reported, on stderr with file:line too.
  assert.equal((await request(port, '/good')).json().name, 'a');
  assert.equal((await request(port, '/flaky')).json().name, 'b');
  assert.match(stderr(), /broken\.yaml:2: HTTPRoute default\/broken rejected: spec\.rules\[0\]\.matches\[0\]\.path: /);
  assert.match(stderr(), /gw2\.yaml:2: Gateway default\/gw2 rejected: spec\.listeners/);

  const broken = await item('HTTPRoute', 'broken');
  assert.ok(broken, 'the refused route has a status');
  assert.equal(broken.status.parents?.length, 1);
  assert.equal(broken.status.parents![0]!.parentRef.name, 'gw');
  const brokenAccepted = condition(broken.status.parents![0]!.conditions, 'Accepted');
  assert.equal(brokenAccepted?.status, 'False');
  assert.equal(brokenAccepted?.reason, 'UnsupportedValue');
  assert.equal(brokenAccepted?.observedGeneration, 1);
  assert.match(brokenAccepted!.message, /^rejected as the API server would: spec\.rules\[0\]\.matches\[0\]\.path: .*; nothing is served for this object$/);

  const gw2 = await item('Gateway', 'gw2');
  assert.ok(gw2, 'the refused Gateway has a status');
  for (const type of ['Accepted', 'Programmed']) {
    const c = condition(gw2.status.conditions, type);
    assert.equal(c?.status, 'False', type);
    assert.equal(c?.reason, 'Invalid', type);
    assert.match(c!.message, /spec\.listeners.*nothing is served for this object$/);
  }
  assert.match(await (await fetch(`${admin}/metrics`)).text(), /^portico_controller_rejected_objects 2$/m);
  // Nothing listens for the refused Gateway.
  await assert.rejects(request(port2, '/'));
  assert.equal(condition((await item('Gateway', 'gw'))?.status.conditions, 'Programmed')?.status, 'True');

  // An update that makes a served route invalid: the previous version keeps serving.
  writeFileSync(join(dir, 'flaky.yaml'), route('flaky', 'flaky-without-slash', 'svc-a'));
  const refused = await eventually(async () => {
    const f = await item('HTTPRoute', 'flaky');
    const c = condition(f?.status.parents?.[0]?.conditions, 'Accepted');
    return c?.status === 'False' ? { f: f!, c } : undefined;
  }, 20_000, 'the refused update in status');
  assert.equal(refused.f.metadata.generation, 2, 'status shows the object as it is now');
  assert.equal(refused.c.observedGeneration, 2);
  assert.equal(refused.c.reason, 'UnsupportedValue');
  assert.match(refused.c.message, /spec\.rules\[0\]\.matches\[0\]\.path: .*; the previous valid version \(generation 1\) keeps serving$/);
  assert.equal((await request(port, '/flaky')).json().name, 'b', 'the previous version serves');
  assert.equal((await request(port, '/good')).json().name, 'a');

  // Fixed: the new version serves and the status is the normal one.
  writeFileSync(join(dir, 'flaky.yaml'), route('flaky', '/flaky2', 'svc-a'));
  const fixed = await eventually(async () => {
    const f = await item('HTTPRoute', 'flaky');
    const c = condition(f?.status.parents?.[0]?.conditions, 'Accepted');
    return c?.status === 'True' ? c : undefined;
  }, 20_000, 'Accepted=True after the fix');
  assert.equal(fixed.observedGeneration, 3);
  await eventually(async () => ((await request(port, '/flaky2')).status === 200 ? true : undefined), 20_000, '/flaky2 served');
  assert.equal((await request(port, '/flaky2')).json().name, 'a');
  assert.equal((await request(port, '/flaky')).status, 404);

  // The Gateway itself gets an invalid listener: its previous version keeps serving every route.
  const badListener = base(port).replace(`port: ${port}}`, `port: ${port}}\n  - {name: Not_A_Name, protocol: HTTP, port: ${port2}}`);
  writeFileSync(join(dir, 'base.yaml'), badListener + '---' + backend('svc-a', a.port) + '---' + backend('svc-b', b.port));
  const gwRefused = await eventually(async () => {
    const c = condition((await item('Gateway', 'gw'))?.status.conditions, 'Accepted');
    return c?.status === 'False' ? c : undefined;
  }, 20_000, 'the Gateway refused in status');
  assert.equal(gwRefused.reason, 'Invalid');
  assert.equal(gwRefused.observedGeneration, 2);
  assert.match(gwRefused.message, /spec\.listeners\[1\]\.name: .*; the previous valid version \(generation 1\) keeps serving$/);
  assert.equal((await request(port, '/good')).json().name, 'a');
  assert.equal((await request(port, '/flaky2')).json().name, 'a');
  await assert.rejects(request(port2, '/'), 'the refused listener is not opened');

  assert.equal(await stop(child), 0);
});

test('portico validate and portico status agree on what is refused and why', async (t) => {
  const dir = tempDir(t, 'portico-rejected-');
  writeFileSync(join(dir, 'base.yaml'), base(8080) + '---' + backend('svc-a', 9000));
  writeFileSync(join(dir, 'routes.yaml'), route('good', '/good', 'svc-a') + '---' + route('broken', 'no-leading-slash', 'svc-a'));
  writeFileSync(join(dir, 'gw2.yaml'), badGateway(8090));
  const [validate, status] = await Promise.all([portico(['validate', '-f', dir]), portico(['status', '-f', dir])]);
  assert.equal(validate.code, 1);
  assert.equal(status.code, 0, status.stderr);

  // validate: "Kind ns/name: path: message" per error.
  const byObject = new Map<string, string[]>();
  for (const line of validate.stdout.trim().split('\n')) {
    const m = /^(\w+) (\S+): (.*)$/.exec(line);
    assert.ok(m, line);
    byObject.set(`${m[1]} ${m[2]}`, [...(byObject.get(`${m[1]} ${m[2]}`) ?? []), m[3]!]);
  }
  assert.deepEqual([...byObject.keys()].sort(), ['Gateway default/gw2', 'HTTPRoute default/broken']);

  // status: the same objects, and only they, are refused, each message naming every error.
  const list = parse(status.stdout) as { items: Item[] };
  const refused = new Map<string, string>();
  for (const i of list.items) {
    const conds = [...(i.status.conditions ?? []), ...(i.status.parents ?? []).flatMap((p) => p.conditions)];
    const c = conds.find((x) => x.type === 'Accepted' && x.message.startsWith('rejected as the API server would'));
    if (c) refused.set(`${i.kind} ${i.metadata.namespace}/${i.metadata.name}`, c.message);
  }
  assert.deepEqual([...refused.keys()].sort(), [...byObject.keys()].sort());
  for (const [object, errors] of byObject) for (const e of errors) assert.ok(refused.get(object)!.includes(e), `${object}: ${e}`);
  const good = list.items.find((i) => i.kind === 'HTTPRoute' && i.metadata.name === 'good');
  assert.equal(condition(good?.status.parents?.[0]?.conditions, 'Accepted')?.status, 'True');
});
