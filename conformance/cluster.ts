// The local Kubernetes cluster used by Portico's Kubernetes-mode tests and by the conformance run:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler as plain processes on loopback
// (no Docker, no kind), plus our node agent that plays the kubelet for the conformance backends.
//
//   node conformance/cluster.ts build  only build/cache the binaries (CI runs this before the tests)
//   node conformance/cluster.ts up     start (idempotent: reuses a healthy running cluster)
//   node conformance/cluster.ts env    print `export KUBECONFIG=...` of the running cluster
//   node conformance/cluster.ts down   stop every process and remove all state
//
// Binaries are built once with `go build` (conformance/lib/build.ts) and cached outside the
// repository; all state (certificates, etcd data, logs, kubeconfig) lives in the work directory,
// $PORTICO_CLUSTER_DIR or /tmp/portico-cluster.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binPath, buildSuite, conformanceDir, ensureEchoBasic, ensureEtcd, ensureKubernetes, gatewayCrdDir, pidAlive, withLock } from './lib/build.ts';
import { KubeClient, parseManifests, sleep, waitFor } from './lib/kube.ts';
import { makePki, type Pki } from './lib/pki.ts';

/** Addresses of the cluster network. Pod IPs cannot be loopback (EndpointSlice validation rejects them). */
export const NETWORK = {
  bridge: 'portico0',
  nodeIP: '10.246.0.1',
  podCIDR: '10.246.0.0/24',
  serviceCIDR: '10.96.0.0/16',
  serviceIP: '10.96.0.1',
  nodeName: 'portico-node',
  kubeletPort: 10250,
  netnsPrefix: 'portico-pod-',
} as const;

export interface ClusterState {
  workDir: string;
  kubeconfig: string;
  server: string;
  pids: Record<string, number>;
  agent: boolean;
  startedAt: string;
  /** Who started it: a person/CI (`cluster.ts up`, never stopped by tests) or a test (acquire()). */
  owner: 'cli' | 'test';
}

export interface UpOptions {
  /** Start the node agent (needs root and `ip`); default: when running as root. */
  agent?: boolean;
  owner?: 'cli' | 'test';
}

export function workDir(): string {
  return process.env.PORTICO_CLUSTER_DIR || '/tmp/portico-cluster';
}

const statePath = () => join(workDir(), 'state.json');

function log(msg: string): void {
  process.stderr.write(`[cluster] ${msg}\n`);
}

function readState(): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(), 'utf8'));
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a long-running process in its own process group, detached from us, output to a log file. */
function startDaemon(name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const logDir = join(workDir(), 'logs');
  mkdirSync(logDir, { recursive: true });
  const fd = openSync(join(logDir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name}`);
  return child.pid;
}

function logTail(name: string): string {
  try {
    return readFileSync(join(workDir(), 'logs', `${name}.log`), 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '';
  }
}

async function waitDaemon<T>(name: string, pid: number, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
  return waitFor(`${name} to become ready`, timeoutMs, async () => {
    if (!pidAlive(pid)) throw new Error(`${name} exited; last log lines:\n${logTail(name)}`);
    return check();
  }).catch((e) => {
    throw new Error(`${e.message}\n--- ${name} log tail ---\n${logTail(name)}`);
  });
}

function kubeconfigText(server: string, pki: Pki): string {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: portico-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.caCert)}`,
    'users:',
    '- name: portico-admin',
    '  user:',
    `    client-certificate-data: ${b64(pki.adminCert)}`,
    `    client-key-data: ${b64(pki.adminKey)}`,
    'contexts:',
    '- name: portico-local',
    '  context:',
    '    cluster: portico-local',
    '    user: portico-admin',
    'current-context: portico-local',
    '',
  ].join('\n');
}

async function isHealthy(state: ClusterState): Promise<boolean> {
  if (!Object.values(state.pids).every(pidAlive)) return false;
  const client = KubeClient.fromKubeconfig(state.kubeconfig);
  try {
    return (await client.request('GET', '/readyz', undefined, 'application/json', 5000)) === 'ok';
  } catch {
    return false;
  } finally {
    client.close();
  }
}

/** Is this process able to run the node agent (root, `ip` present)? */
export function canRunAgent(): boolean {
  return process.getuid?.() === 0 && ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some(existsSync);
}

/** Installs the Gateway API CRDs (experimental channel) and waits until they are Established. */
export async function installGatewayCrds(client: KubeClient): Promise<void> {
  const dir = await gatewayCrdDir();
  const objects = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .flatMap((f) => parseManifests(readFileSync(join(dir, f), 'utf8')));
  for (const obj of objects) await client.apply(obj);
  for (const crd of objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
    await waitFor(`CRD ${crd.metadata.name} to be Established`, 60_000, async () => {
      const got = await client.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      return got.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True');
    });
  }
}

async function startCluster(opts: UpOptions): Promise<ClusterState> {
  const wantAgent = opts.agent ?? canRunAgent();
  const t0 = Date.now();
  await ensureEtcd();
  await ensureKubernetes();
  if (wantAgent) await ensureEchoBasic();
  const tBuilt = Date.now();

  const dir = workDir();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pki = await makePki(join(dir, 'pki'), { nodeIP: NETWORK.nodeIP, serviceIP: NETWORK.serviceIP });
  const [etcdClient, etcdPeer, apiPort, cmPort, schedPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const pids: Record<string, number> = {};
  const state: ClusterState = {
    workDir: dir,
    kubeconfig: join(dir, 'kubeconfig'),
    server: `https://127.0.0.1:${apiPort}`,
    pids,
    agent: wantAgent,
    startedAt: new Date().toISOString(),
    owner: opts.owner ?? 'cli',
  };
  // Written early so that `down` can clean up a half-started cluster.
  const save = () => writeFileSync(statePath(), JSON.stringify(state, null, 2) + '\n');
  save();

  const etcdURL = `http://127.0.0.1:${etcdClient}`;
  const peerURL = `http://127.0.0.1:${etcdPeer}`;
  pids.etcd = startDaemon('etcd', binPath('etcd'), [
    '--name=default', `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdURL}`, `--advertise-client-urls=${etcdURL}`,
    `--listen-peer-urls=${peerURL}`, `--initial-advertise-peer-urls=${peerURL}`, `--initial-cluster=default=${peerURL}`,
    '--unsafe-no-fsync', '--log-level=warn',
  ]);
  save();
  await waitDaemon('etcd', pids.etcd, 30_000, async () => {
    const res = await fetch(`${etcdURL}/health`);
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  });

  pids['kube-apiserver'] = startDaemon('kube-apiserver', binPath('kube-apiserver'), [
    `--etcd-servers=${etcdURL}`,
    '--bind-address=127.0.0.1', `--secure-port=${apiPort}`,
    // No default route here; a loopback advertise address also needs the endpoint reconciler off.
    '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
    `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--service-cluster-ip-range=${NETWORK.serviceCIDR}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
    '--authorization-mode=RBAC', '--allow-privileged=true',
    `--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`,
    `--kubelet-certificate-authority=${pki.caCert}`, '--kubelet-preferred-address-types=InternalIP',
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    '--profiling=false', '--v=1',
  ]);
  save();
  writeFileSync(state.kubeconfig, kubeconfigText(state.server, pki), { mode: 0o600 });
  const client = KubeClient.fromKubeconfig(state.kubeconfig);
  try {
    await waitDaemon('kube-apiserver', pids['kube-apiserver'], 120_000, async () => (await client.request('GET', '/readyz', undefined, 'application/json', 5000)) === 'ok');
    const tApi = Date.now();

    pids['kube-controller-manager'] = startDaemon('kube-controller-manager', binPath('kube-controller-manager'), [
      `--kubeconfig=${state.kubeconfig}`, '--leader-elect=false',
      '--bind-address=127.0.0.1', `--secure-port=${cmPort}`,
      `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCert}`,
      `--service-cluster-ip-range=${NETWORK.serviceCIDR}`,
      // Our node agent heartbeats, but on a 2-core machine under load a missed beat must not evict
      // the conformance backends, so node lifecycle and taint eviction are off.
      '--controllers=*,-node-lifecycle-controller,-taint-eviction-controller',
      '--v=1',
    ]);
    pids['kube-scheduler'] = startDaemon('kube-scheduler', binPath('kube-scheduler'), [
      `--kubeconfig=${state.kubeconfig}`, '--leader-elect=false',
      '--bind-address=127.0.0.1', `--secure-port=${schedPort}`, '--v=1',
    ]);
    save();

    await installGatewayCrds(client);
    // The default ServiceAccount is what the ServiceAccount admission plugin needs before pods
    // can be created; wait for the controller-manager to make it.
    await waitDaemon('kube-controller-manager', pids['kube-controller-manager'], 60_000, () => client.getOrNull('/api/v1/namespaces/default/serviceaccounts/default'));

    if (wantAgent) {
      pids['node-agent'] = startDaemon('node-agent', process.execPath, [
        join(conformanceDir, 'node-agent', 'agent.ts'),
        `--kubeconfig=${state.kubeconfig}`, `--work-dir=${join(dir, 'node')}`,
        `--kubelet-cert=${pki.kubeletServingCert}`, `--kubelet-key=${pki.kubeletServingKey}`, `--client-ca=${pki.caCert}`,
        `--echo-basic=${binPath('echo-basic')}`,
      ]);
      save();
      await waitDaemon('node-agent', pids['node-agent'], 60_000, async () => {
        const node = await client.getOrNull(`/api/v1/nodes/${NETWORK.nodeName}`);
        return node?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      });
    }
    log(`cluster up at ${state.server} (binaries ${Math.round((tBuilt - t0) / 1000)}s, apiserver ready ${((tApi - tBuilt) / 1000).toFixed(1)}s, total ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } finally {
    client.close();
  }
  return state;
}

/**
 * Brings the cluster up, or returns the running one if it is healthy. `started` says whether this
 * call started it (so a test that reused a running cluster leaves it running).
 */
export async function up(opts: UpOptions = {}): Promise<ClusterState & { started: boolean }> {
  return withLock('cluster-up', () => upLocked(opts));
}

async function upLocked(opts: UpOptions): Promise<ClusterState & { started: boolean }> {
  const existing = readState();
  if (existing && (await isHealthy(existing)) && (opts.agent !== true || existing.agent)) return { ...existing, started: false };
  if (existing) await down();
  try {
    return { ...(await startCluster(opts)), started: true };
  } catch (e) {
    await down();
    throw e;
  }
}

async function killGroup(name: string, pid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
  if (pidAlive(pid)) {
    log(`${name} (pid ${pid}) ignored SIGTERM; killing`);
    signal('SIGKILL');
    for (let i = 0; i < 20 && pidAlive(pid); i++) await sleep(100);
  }
}

/** Stops every process of the cluster (agent first, etcd last) and removes the work directory. */
export async function down(): Promise<void> {
  const state = readState();
  if (state) {
    // The agent first (it removes its pods), then the control plane together, etcd last.
    const stages = [['node-agent'], ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver'], ['etcd']];
    for (const stage of stages) await Promise.all(stage.filter((n) => state.pids[n]).map((n) => killGroup(n, state.pids[n])));
  }
  // The pod network is one per machine (NETWORK), shared with any other cluster's agent: only a
  // cluster that ran the agent (or one whose state is lost) cleans it up.
  if (canRunAgent() && (!state || state.agent)) {
    // The agent removes its pods' namespaces on SIGTERM; this catches a killed agent.
    const { cleanupNetwork } = await import('./node-agent/netns.ts');
    await cleanupNetwork(NETWORK.netnsPrefix, NETWORK.bridge);
  }
  rmSync(workDir(), { recursive: true, force: true });
}

/**
 * For tests: a running cluster (reused if healthy, started otherwise) and a release function.
 * Test processes that use the cluster register themselves in <workDir>/users; the last one to
 * release a cluster that a test started stops it. A cluster started with `cluster.ts up` (by a
 * person or CI) is left running.
 */
export async function acquire(opts: { agent?: boolean } = {}): Promise<{ kubeconfig: string; server: string; release: () => Promise<void> }> {
  const users = () => join(workDir(), 'users');
  // Registered under the same lock as the start, so a concurrent release never sees us missing.
  // Every test asks for the same shape (agent whenever possible), so concurrent tests share one cluster.
  const state = await withLock('cluster-up', async () => {
    const s = await upLocked({ agent: opts.agent ?? canRunAgent(), owner: 'test' });
    mkdirSync(users(), { recursive: true });
    writeFileSync(join(users(), String(process.pid)), '');
    return s;
  });
  const release = () =>
    withLock('cluster-up', async () => {
      rmSync(join(users(), String(process.pid)), { force: true });
      const current = readState();
      if (!current || current.owner !== 'test' || current.startedAt !== state.startedAt) return;
      const others = existsSync(users()) ? readdirSync(users()).map(Number).filter((pid) => pid !== process.pid && pidAlive(pid)) : [];
      if (others.length === 0) await down();
    });
  return { kubeconfig: state.kubeconfig, server: state.server, release };
}

/** KUBECONFIG of the running cluster, or undefined. */
export function kubeconfigPath(): string | undefined {
  const s = readState();
  return s && existsSync(s.kubeconfig) ? s.kubeconfig : undefined;
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === 'up') {
    const agent = argv.includes('--no-agent') ? false : argv.includes('--agent') ? true : undefined;
    const s = await up({ agent, owner: 'cli' });
    log(s.started ? 'started' : 'already running');
    process.stdout.write(`export KUBECONFIG=${s.kubeconfig}\n`);
    return 0;
  }
  if (cmd === 'build') {
    // Builds (or finds cached) every binary the cluster needs, without starting anything: what CI
    // runs before the tests so that no test pays for a cold build. --suite adds the conformance suite.
    const t0 = Date.now();
    await ensureEtcd();
    await ensureKubernetes();
    await ensureEchoBasic();
    if (argv.includes('--suite')) await buildSuite();
    log(`binaries ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return 0;
  }
  if (cmd === 'down') {
    const usersDir = join(workDir(), 'users');
    const users = existsSync(usersDir) ? readdirSync(usersDir).map(Number).filter((pid) => pid !== process.pid && pidAlive(pid)) : [];
    if (users.length && !argv.includes('--force')) {
      log(`not stopping: processes ${users.join(', ')} still use the cluster (acquire()); wait for them or pass --force`);
      return 1;
    }
    await down();
    log('down');
    return 0;
  }
  if (cmd === 'env') {
    const s = readState();
    if (!s || !(await isHealthy(s))) {
      log('no healthy cluster is running; start one with: npm run cluster -- up');
      return 1;
    }
    process.stdout.write(`export KUBECONFIG=${s.kubeconfig}\n`);
    return 0;
  }
  if (cmd === 'status') {
    const s = readState();
    process.stdout.write(JSON.stringify({ ...s, healthy: s ? await isHealthy(s) : false }, null, 2) + '\n');
    return 0;
  }
  process.stderr.write('usage: node conformance/cluster.ts build [--suite] | up [--agent|--no-agent] | down [--force] | env | status\n');
  return 2;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`[cluster] error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
