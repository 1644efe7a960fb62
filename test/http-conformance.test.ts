// The upstream HTTPRoute conformance scenarios that check traffic (conformance/tests/httproute-*.go),
// reproduced with our own manifests through translate() and the data plane, against three real
// echo backend processes (infra-backend-v1..v3). Table driven: the table (test/support/http-scenarios.ts)
// has one entry per upstream test, its YAML (namespace gateway-conformance-infra, Gateway
// `same-namespace` on a free port) and the requests with what the upstream test expects of them.
// This file is the fast path (an in-process data plane fed by translate()); test/http-e2e-run.test.ts
// replays the same table through a real `portico run` process.
// No upstream traffic test is covered one-to-one by another test file (test/golden-incremental.test.ts
// only translates GatewayHTTPListenerIsolation; its traffic is checked here).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { makeCA, makeCert } from './support/tls-certs.ts';
import { check, infra, NAMES, NS, scenarios, useScenarioEnv, type Scenario } from './support/http-scenarios.ts';
import { startAuthz, type Authz } from './support/grpc-authz.ts';
import { cond, run, statusOf } from './translate-helpers.ts';

let backends: EchoBackend[] = [];
let authz: Authz | undefined;
let dp: DataPlane;
let generation = 0;

before(async () => {
  backends = await Promise.all(NAMES.map((n) => startEcho(n)));
  authz = await startAuthz();
  const [port, tlsPort, port2, port3] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const cert = await makeCert(await makeCA(), { dns: ['example.org', 'second-example.org', 'unknown-example.org', '*.wildcard.org'] });
  useScenarioEnv({ port, tlsPort, port2, port3, cert, backends, authzPort: authz.port });
  dp = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1' });
});

after(async () => {
  await dp?.close();
  await Promise.all(backends.map((b) => b.close()));
  authz?.close();
});

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


for (const s of scenarios) {
  test(s.name, async () => {
    await apply(s);
    for (const c of s.cases) await check(c);
    await s.extra?.();
  });
}
