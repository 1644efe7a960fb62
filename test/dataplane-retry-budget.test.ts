// Retry budgets (XBackendTrafficPolicy retryConstraint, GEP-3388) end to end: manifests through
// translate() into the data plane, backends on real sockets that always fail (500, or a reset)
// and count every attempt. Requests go one at a time, so the budget arithmetic is exact; the
// window accounting itself is unit-tested at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { RetryBudget, SlidingCount } from '../src/dataplane/upstream/retry-budget.ts';
import { freePort, request } from './support/client.ts';
import { localServiceYaml } from './support/manifests.ts';
import { cond, run, statusOf } from './translate-helpers.ts';

const SERVICES = ['budgeted', 'free', 'elsewhere', 'resets'] as const;
type Name = (typeof SERVICES)[number];
const servers = new Map<Name, http.Server>();
const attempts = new Map<Name, number>();
let dp: DataPlane;
let port: number;
let backendPorts: number[] = [];
let generation = 0;

/** Every request fails: `resets` resets the connection, the others answer 500. */
function failing(name: Name): http.Server {
  return http.createServer((req, res) => {
    attempts.set(name, (attempts.get(name) ?? 0) + 1);
    if (name === 'resets') return void (req.socket as Socket).resetAndDestroy();
    res.statusCode = 500;
    res.end('nope');
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** A rule on `/<name>` to Service `name`, retrying 500 (and any connection error) up to 3 times. */
const rule = (name: Name) =>
  `    - {matches: [{path: {type: PathPrefix, value: /${name}}}], retry: {codes: [500], attempts: 3, backoff: 1ms}, backendRefs: [{name: ${name}, port: 8080}]}`;

const policy = (name: string, target: Name, constraint: string) => `apiVersion: gateway.networking.x-k8s.io/v1alpha1
kind: XBackendTrafficPolicy
metadata: {name: ${name}, namespace: default, generation: 1}
spec:
  targetRefs: [{group: "", kind: Service, name: ${target}}]
  retryConstraint: ${constraint}`;

const SMALL = '{budget: {percent: 20, interval: 1h}, minRetryRate: {count: 1, interval: 1h}}';

/** Translates the Gateway, route, Services and policies (`budgeted` gets `constraint`) and applies the IR. */
async function apply(constraint: string): Promise<void> {
  const ports = backendPorts;
  const yaml = [
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default, generation: 1}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: ${port}, protocol: HTTP}]`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: retries, namespace: default, generation: 1}
spec:
  parentRefs: [{name: gw}]
  rules:
${SERVICES.map(rule).join('\n')}`,
    ...SERVICES.map((n, i) => localServiceYaml(n, 8080, ports[i])),
    // Long intervals: everything the test sends stays inside both windows, however slow the machine.
    policy('small-budget', 'budgeted', constraint),
    policy('not-here', 'elsewhere', '{budget: {percent: 0, interval: 1h}, minRetryRate: {count: 1, interval: 1h}}'),
    policy('floor-only', 'resets', '{budget: {percent: 0, interval: 1h}, minRetryRate: {count: 2, interval: 1h}}'),
  ].join('\n---\n');
  const result = run(yaml);
  for (const name of ['small-budget', 'not-here', 'floor-only']) {
    const st = statusOf(result, `XBackendTrafficPolicy/default/${name}`) as { ancestors?: { conditions: unknown }[] } | undefined;
    assert.equal(cond(st?.ancestors?.[0]?.conditions, 'Accepted')?.status, 'True', `${name} Accepted`);
  }
  const applied = await dp.apply({ ...result.ir, generation: ++generation });
  assert.deepEqual(applied.bindErrors, {});
}

before(async () => {
  backendPorts = await Promise.all(SERVICES.map((n) => {
    const s = failing(n);
    servers.set(n, s);
    return listen(s);
  }));
  port = await freePort();
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
  await apply(SMALL);
});

after(async () => {
  await dp?.close();
  await Promise.all([...servers.values()].map((s) => {
    s.closeAllConnections();
    return new Promise((r) => s.close(r));
  }));
});

/** Sends `n` requests to /<name>, one after the other; their statuses. */
async function sequence(name: Name, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await request(port, `/${name}`, { host: 'x' })).status);
  return out;
}

function denied(metrics: string, service: string): number | undefined {
  const m = new RegExp(`^portico_retry_budget_denied_total\\{service="default/${service}"\\} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : undefined;
}

test('a small budget caps retries of a failing backend; every denied retry answers 503 and is counted', async () => {
  const statuses = await sequence('budgeted', 12);
  // Retries may be 20 % of the requests of the interval, retries included, and 1 per hour is
  // always allowed. Request 1: its first retry is the floor's; its second retry would make 2 of
  // 3 requests retries: denied. Request n (n ≥ 2) is the (n+1)th request; a 2nd retry fits when
  // 2 of n+2 ≤ 20 %: request 8; a 3rd when 3 of n+2 ≤ 20 %: request 12. Each request's next retry
  // is then denied, so all 12 end in a denial.
  assert.deepEqual(statuses, Array(12).fill(503), 'a retry the budget refuses answers 503 (GEP-3388: MUST)');
  assert.equal(attempts.get('budgeted'), 12 + 3, 'twelve first attempts and three retries');
  assert.equal(denied(await dp.metrics(), 'budgeted'), 12);
});

test('without a policy every retry is made (and the last answer is relayed)', async () => {
  const statuses = await sequence('free', 5);
  assert.deepEqual(statuses, Array(5).fill(500));
  assert.equal(attempts.get('free'), 5 * 4, 'one attempt and three retries each');
  assert.equal(denied(await dp.metrics(), 'free'), undefined, 'no budget, no series');
});

test('a policy on another Service changes nothing for this one', async () => {
  await sequence('free', 2);
  assert.equal(attempts.get('free'), 7 * 4);
  assert.equal(denied(await dp.metrics(), 'elsewhere'), 0, 'the other Service has its budget, untouched');
});

test('connection errors are budgeted too: with percent 0 only minRetryRate retries happen', async () => {
  const statuses = await sequence('resets', 3);
  assert.deepEqual(statuses, [503, 503, 503]);
  // Request 1: two retries (the floor of 2 per hour), the third denied; requests 2 and 3: denied at once.
  assert.equal(attempts.get('resets'), 3 + 1 + 1);
  assert.equal(denied(await dp.metrics(), 'resets'), 3);
});

test('a reload keeps the budget spent; a changed policy applies at once', async () => {
  await apply(SMALL); // new IR objects, same policy
  assert.deepEqual(await sequence('budgeted', 1), [503]);
  // 4 retries of 17 requests is over 20 %, and the floor (1 per hour) was used: a budget that
  // restarted from zero would have let this request retry once.
  assert.equal(attempts.get('budgeted'), 15 + 1);
  assert.equal(denied(await dp.metrics(), 'budgeted'), 13);
  await apply('{budget: {percent: 100, interval: 1h}, minRetryRate: {count: 1, interval: 1h}}');
  assert.deepEqual(await sequence('budgeted', 1), [500], 'retries used up: the last answer is relayed');
  assert.equal(attempts.get('budgeted'), 16 + 4, 'percent 100: every retry is made');
  assert.equal(denied(await dp.metrics(), 'budgeted'), 13);
});

// ---- window accounting ----------------------------------------------------------------------

test('SlidingCount: events are counted for the window (in tenths), then forgotten', () => {
  const w = new SlidingCount(10_000); // buckets of 1 s
  w.add(500);
  w.add(900);
  w.add(1_500);
  assert.equal(w.total(1_600), 3);
  assert.equal(w.total(9_999), 3, 'all inside the window');
  assert.equal(w.total(10_000), 1, 'the two of the first second slid out (their bucket is 10 s old)');
  assert.equal(w.total(11_000), 0);
  w.add(20_300); // reuses the slot of the first second
  assert.equal(w.total(20_300), 1, 'a reused bucket starts from zero');
  assert.equal(w.total(40_000), 0, 'long idle: nothing left');
});

test('RetryBudget: percent of the requests of the interval, at least minRetryRate', () => {
  const b = new RetryBudget('service="x"', { percent: 50, intervalMs: 10_000, minRetryRate: { count: 1, intervalMs: 1_000 } });
  b.request(0);
  assert.equal(b.tryRetry(1), true, 'the floor: one retry per second');
  assert.equal(b.tryRetry(2), false, '2 retries of 3 requests is over 50 %');
  b.request(3);
  assert.equal(b.tryRetry(4), true, '2 retries of 4 requests is 50 %');
  assert.equal(b.tryRetry(5), false);
  assert.equal(b.tryRetry(1_500), true, 'a new second: the floor allows one more');
  assert.equal(b.denied, 2);
  // Twenty seconds later the interval holds nothing; only the floor is left.
  assert.equal(b.tryRetry(30_000), true);
  assert.equal(b.tryRetry(30_001), false);
  // A changed interval restarts the windows; a changed percent applies at once.
  b.configure({ percent: 100, intervalMs: 10_000, minRetryRate: { count: 1, intervalMs: 1_000 } });
  assert.equal(b.tryRetry(30_002), true, 'percent 100: a retry is always within budget');
  b.configure({ percent: 0, intervalMs: 5_000, minRetryRate: { count: 2, intervalMs: 1_000 } });
  assert.equal(b.tryRetry(30_003), true);
  assert.equal(b.tryRetry(30_004), true);
  assert.equal(b.tryRetry(30_005), false, 'percent 0: only the floor');
});
