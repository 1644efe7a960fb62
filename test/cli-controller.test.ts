// The run loop's controller with the real (in-process) data plane: Programmed follows what is
// live, asking twice gives the same status, and a snapshot that changes nothing to program
// (a status write coming back in Kubernetes mode) does not flip Programmed to Pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, KubeObject } from '../src/api/meta.ts';
import { Controller, sameConfiguration } from '../src/cli/controller.ts';
import { createDataPlane } from '../src/dataplane/index.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { freePort } from './support/client.ts';
import { waitFor } from './support/wait.ts';

function objects(ports: number[], gatewayStatus?: unknown): KubeObject[] {
  return [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'portico', generation: 1 }, spec: { controllerName: 'portico.dev/gateway-controller' } },
    {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra', generation: ports.length },
      spec: { gatewayClassName: 'portico', listeners: ports.map((port, i) => ({ name: `l${i}`, port, protocol: 'HTTP' })) },
      ...(gatewayStatus ? { status: gatewayStatus } : {}),
    },
  ];
}

function programmed(c: Controller): Condition | undefined {
  const gw = c.statuses().find((s) => s.object.kind === 'Gateway');
  return (gw?.status.conditions as Condition[] | undefined)?.find((x) => x.type === 'Programmed');
}

test('controller: Programmed follows the data plane, and is stable between changes', async (t) => {
  const dataPlane = await createDataPlane({ workers: 0, bindAddress: '127.0.0.1', accessLog: false });
  t.after(() => dataPlane.close());
  let notified = 0;
  const c = new Controller({ dataPlane, bindAddress: '127.0.0.1', log: () => {}, onStatusChange: () => { notified++; } });
  const [p1, p2] = [await freePort(), await freePort()];

  c.update(buildSnapshot(objects([p1]), 1));
  assert.equal(c.ready(), false);
  await c.firstApplied;
  if (!programmed(c)) {
    t.diagnostic('translate() reports no Gateway status yet');
    return;
  }
  assert.equal(programmed(c)?.status, 'True');
  assert.ok(notified >= 2, 'notified after translation and after the data plane acknowledged');

  // Only the status changed: nothing to program, Programmed stays True at once.
  c.update(buildSnapshot(objects([p1], { conditions: [{ type: 'Programmed', status: 'True', reason: 'Programmed', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] }), 2));
  assert.equal(programmed(c)?.status, 'True');
  assert.equal(c.config()?.generation, 2);

  // A new listener: Pending until the data plane has it, the same answer each time it is asked.
  c.update(buildSnapshot(objects([p1, p2]), 3));
  const pending = programmed(c);
  assert.equal(pending?.status, 'False');
  assert.equal(pending?.reason, 'Pending');
  await new Promise((r) => setTimeout(r, 1100));
  assert.deepEqual(c.statuses(), c.statuses());
  if (programmed(c)?.status === 'False') assert.deepEqual(programmed(c), pending, 'stable while pending');
  await waitFor(() => programmed(c)?.status === 'True', 20_000, 'Programmed=True for generation 3');

  // A second Gateway appears: it waits for the data plane, the first one stays Programmed.
  const p3 = await freePort();
  const second: KubeObject = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'other', namespace: 'infra', generation: 1 }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'l', port: p3, protocol: 'HTTP' }] } };
  c.update(buildSnapshot([...objects([p1, p2]), second], 4));
  const cond = (name: string) => (c.statuses().find((s) => s.object.metadata.name === name)?.status.conditions as Condition[] | undefined)?.find((x) => x.type === 'Programmed');
  assert.equal(cond('gw')?.status, 'True', 'unchanged Gateway stays Programmed');
  assert.equal(cond('other')?.reason, 'Pending');
  await waitFor(() => cond('other')?.status === 'True', 20_000, 'the new Gateway Programmed');
  assert.match(c.metrics(), /portico_controller_applied_generation 4/);
  assert.match(c.metrics(), /portico_controller_reloads_total 3/);
});

test('sameConfiguration ignores the generation only', () => {
  const ir = { generation: 1, gateways: [{ source: { kind: 'Gateway', name: 'a' }, addresses: [], listeners: [] }], backends: {} };
  assert.ok(sameConfiguration(ir, { ...structuredClone(ir), generation: 2 }));
  const other = structuredClone(ir);
  other.gateways[0].addresses.push('127.0.0.1' as never);
  assert.ok(!sameConfiguration(ir, other));
});
