// `cluster.ts up` starts every process of the local cluster and `cluster.ts down` tears it down
// cleanly: no process left, the work directory gone. A cluster of its own, in a temporary work
// directory without the node agent, so the shared cluster of the other tests is left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { goAvailable, pidAlive } from '../conformance/lib/build.ts';
import { KubeClient } from '../conformance/lib/kube.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const skip = process.env.PORTICO_SKIP_CLUSTER === '1' ? 'PORTICO_SKIP_CLUSTER=1' : !(await goAvailable()) ? 'go is not installed' : undefined;
const run = promisify(execFile);

test('cluster.ts up starts etcd, kube-apiserver, controller-manager and scheduler; down stops them all and removes the state', { skip, timeout: 10 * 60_000 }, async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'portico-cluster-lifecycle-')), 'cluster');
  const env = { ...process.env, PORTICO_CLUSTER_DIR: dir };
  const cli = (...args: string[]) => run(process.execPath, [join(root, 'conformance/cluster.ts'), ...args], { env, cwd: root });
  await cli('up', '--no-agent');
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { pids: Record<string, number>; kubeconfig: string };
  try {
    assert.deepEqual(Object.keys(state.pids).sort(), ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
    for (const [name, pid] of Object.entries(state.pids)) assert.ok(pidAlive(pid), `${name} runs`);
    const client = KubeClient.fromKubeconfig(state.kubeconfig);
    try {
      const crd = await client.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io');
      assert.equal(crd.metadata.name, 'httproutes.gateway.networking.k8s.io');
    } finally {
      client.close();
    }
  } finally {
    await cli('down');
  }
  for (const [name, pid] of Object.entries(state.pids)) assert.ok(!pidAlive(pid), `${name} (pid ${pid}) is stopped`);
  assert.ok(!existsSync(dir), 'the work directory is removed');
});
