// Portico's node agent: plays the kubelet of the local cluster for the conformance backends.
//
// It registers one Node, keeps its Lease and Ready condition fresh, watches the Pods scheduled to
// it and runs each pod's container as a plain process (the upstream echo-basic, built with go
// build) inside the pod's own network namespace on a bridge (netns.ts). It reports pod status
// (podIP, conditions, containerStatuses) only after the process listens, serves container logs to
// the API server over HTTPS like the kubelet's /containerLogs endpoint (the conformance mirror
// tests read logs that way), and finishes deletions by force-deleting terminated pods.
//
// Run as root: node conformance/node-agent/agent.ts --kubeconfig=... --work-dir=... --kubelet-cert=...
//   --kubelet-key=... --client-ca=... --echo-basic=...
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, KubeError, sleep } from '../lib/kube.ts';
import { NETWORK } from '../cluster.ts';
import { cleanupNetwork, createPodNetns, deletePodNetns, ensureBridge, vethName } from './netns.ts';
import { PodIPs } from './ipam.ts';
import { readLogs } from './logs.ts';

const { values: args } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'work-dir': { type: 'string' },
    'kubelet-cert': { type: 'string' },
    'kubelet-key': { type: 'string' },
    'client-ca': { type: 'string' },
    'echo-basic': { type: 'string' },
  },
});

const nodeName = NETWORK.nodeName;
const workDir = args['work-dir'] ?? '/tmp/portico-node';
const client = KubeClient.fromKubeconfig(args.kubeconfig as string);
const podPrefix = NETWORK.podCIDR.replace(/\.0\/24$/, '.');

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

interface Container {
  name: string;
  proc?: ChildProcess;
  logFile: string;
  logStream?: WriteStream;
  restarts: number;
  startedAt: string;
  ready: boolean;
  image: string;
}

interface RunningPod {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  netns: string;
  dir: string;
  containers: Container[];
  stopping: boolean;
  pod: any;
}

const pods = new Map<string, RunningPod>(); // by uid
const starting = new Set<string>(); // uids whose start is in progress
const podIPs = new PodIPs(podPrefix);

// ---------------------------------------------------------------- node registration and heartbeats

const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

function nodeConditions(now: string) {
  const c = (type: string, status: string, reason: string) => ({ type, status, reason, message: reason, lastHeartbeatTime: now, lastTransitionTime: startedAt });
  return [
    c('Ready', 'True', 'KubeletReady'),
    c('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
    c('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
    c('PIDPressure', 'False', 'KubeletHasSufficientPID'),
  ];
}
const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

async function registerNode(): Promise<void> {
  await client.apply({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' } },
    spec: { podCIDR: NETWORK.podCIDR, podCIDRs: [NETWORK.podCIDR] },
  }, 'portico-node-agent');
  const capacity = { cpu: '32', memory: '64Gi', pods: '250', 'ephemeral-storage': '100Gi' };
  await client.mergePatch(`/api/v1/nodes/${nodeName}/status`, {
    status: {
      capacity,
      allocatable: capacity,
      conditions: nodeConditions(new Date().toISOString().replace(/\.\d+Z$/, 'Z')),
      addresses: [
        { type: 'InternalIP', address: NETWORK.nodeIP },
        { type: 'Hostname', address: nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: NETWORK.kubeletPort } },
      nodeInfo: {
        machineID: 'portico', systemUUID: 'portico', bootID: String(process.pid), kernelVersion: '', osImage: 'portico node agent',
        containerRuntimeVersion: 'portico://0.1.0', kubeletVersion: 'v1.36.3', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64',
      },
    },
  });
}

/**
 * The TaintNodesByCondition admission plugin marks a new node not-ready; the node
 * lifecycle controller, which would lift that taint, is off in this cluster (cluster.ts), so the
 * agent lifts it itself once the node reports Ready.
 */
async function untaint(): Promise<void> {
  const node = await client.get(`/api/v1/nodes/${nodeName}`);
  const taints = (node.spec.taints ?? []) as Array<{ key: string }>;
  const keep = taints.filter((t) => t.key !== 'node.kubernetes.io/not-ready' && t.key !== 'node.kubernetes.io/unreachable');
  if (keep.length !== taints.length) await client.mergePatch(`/api/v1/nodes/${nodeName}`, { spec: { taints: keep.length ? keep : null } });
}

async function heartbeat(): Promise<void> {
  await client.apply({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: nodeName, namespace: 'kube-node-lease' },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: microTime() },
  }, 'portico-node-agent');
  await client.mergePatch(`/api/v1/nodes/${nodeName}/status`, { status: { conditions: nodeConditions(new Date().toISOString().replace(/\.\d+Z$/, 'Z')) } });
}

// ---------------------------------------------------------------- pod volumes and env

const b64 = (s: string) => Buffer.from(s, 'base64');

/** A volume's Secret/ConfigMap does not exist yet; like the kubelet, the pod waits for it. */
class MissingSource extends Error {}

/** Writes secret/configMap volumes to host directories; returns mountPath → host path per container. */
async function prepareVolumes(pod: any, dir: string): Promise<Map<string, string>> {
  const volDirs = new Map<string, string>();
  for (const vol of pod.spec.volumes ?? []) {
    const vdir = join(dir, 'volumes', vol.name);
    mkdirSync(vdir, { recursive: true });
    volDirs.set(vol.name, vdir);
    let data: Record<string, Buffer> | undefined;
    let items: Array<{ key: string; path: string }> | undefined;
    if (vol.secret) {
      const s = await client.getOrNull(`/api/v1/namespaces/${pod.metadata.namespace}/secrets/${vol.secret.secretName}`);
      if (!s && !vol.secret.optional) throw new MissingSource(`secret ${vol.secret.secretName}`);
      data = Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, b64(v as string)]));
      items = vol.secret.items;
    } else if (vol.configMap) {
      const cm = await client.getOrNull(`/api/v1/namespaces/${pod.metadata.namespace}/configmaps/${vol.configMap.name}`);
      if (!cm && !vol.configMap.optional) throw new MissingSource(`configmap ${vol.configMap.name}`);
      data = {
        ...Object.fromEntries(Object.entries(cm?.data ?? {}).map(([k, v]) => [k, Buffer.from(v as string)])),
        ...Object.fromEntries(Object.entries(cm?.binaryData ?? {}).map(([k, v]) => [k, b64(v as string)])),
      };
      items = vol.configMap.items;
    }
    if (!data) continue;
    const files = items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const { key, path } of files) if (data[key]) writeFileSync(join(vdir, path), data[key]);
  }
  return volDirs;
}

function fieldRef(pod: any, ip: string, path: string): string {
  switch (path) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace;
    case 'metadata.uid': return pod.metadata.uid;
    case 'spec.nodeName': return nodeName;
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? 'default';
    case 'status.podIP': return ip;
    case 'status.hostIP': return NETWORK.nodeIP;
    default: {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
      return m ? (pod.metadata[m[1]]?.[m[2]] ?? '') : '';
    }
  }
}

async function containerEnv(pod: any, c: any, ip: string, mounts: Array<[string, string]>): Promise<Record<string, string>> {
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOSTNAME: pod.metadata.name };
  const ns = pod.metadata.namespace;
  for (const e of c.env ?? []) {
    let v = e.value ?? '';
    const from = e.valueFrom;
    if (from?.fieldRef) v = fieldRef(pod, ip, from.fieldRef.fieldPath);
    else if (from?.secretKeyRef) {
      const s = await client.getOrNull(`/api/v1/namespaces/${ns}/secrets/${from.secretKeyRef.name}`);
      v = s?.data?.[from.secretKeyRef.key] ? b64(s.data[from.secretKeyRef.key]).toString('utf8') : '';
    } else if (from?.configMapKeyRef) {
      const cm = await client.getOrNull(`/api/v1/namespaces/${ns}/configmaps/${from.configMapKeyRef.name}`);
      v = cm?.data?.[from.configMapKeyRef.key] ?? '';
    }
    // Paths inside a volume mount point to the host directory that holds the volume's files.
    for (const [mountPath, hostPath] of mounts) {
      if (v === mountPath || v.startsWith(mountPath + '/')) v = hostPath + v.slice(mountPath.length);
    }
    env[e.name] = v;
  }
  return env;
}

// ---------------------------------------------------------------- processes

/**
 * The command for a container image: echo-basic runs the upstream binary; CoreDNS is replaced by
 * our DNS stub (only its UDP answer matters to the suite). Undefined for images we cannot run:
 * the pod is then only marked Ready.
 */
function commandFor(image: string, containerArgs: string[]): { exe: string; argv: string[] } | undefined {
  const repo = image.split('@')[0].replace(/:[^/:]+$/, '');
  if (repo.endsWith('/echo-basic') && args['echo-basic']) return { exe: args['echo-basic'], argv: containerArgs };
  if (repo.endsWith('/coredns')) return { exe: process.execPath, argv: [join(import.meta.dirname, 'dns-stub.ts'), '53'] };
  return undefined;
}

/** Does the process listen on anything yet? /proc/<pid>/net shows the sockets of its netns. */
function listening(pid: number): boolean {
  try {
    const tcp = ['tcp', 'tcp6'].flatMap((f) => readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1));
    if (tcp.some((l) => l.trim().split(/\s+/)[3] === '0A')) return true;
    const udp = ['udp', 'udp6'].flatMap((f) => readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1));
    return udp.some((l) => l.trim() !== '');
  } catch {
    return false;
  }
}

function startProcess(rp: RunningPod, c: Container, exe: string, argv: string[], env: Record<string, string>): void {
  if (!c.logStream) c.logStream = createWriteStream(c.logFile, { flags: 'a' });
  const proc = spawn('ip', ['netns', 'exec', rp.netns, exe, ...argv], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  c.proc = proc;
  c.startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  // CRI log format: "<RFC3339Nano> <stream> F <line>"; logs.ts reads it back.
  const pipe = (stream: NodeJS.ReadableStream, name: string) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        c.logStream?.write(`${new Date().toISOString()} ${name} F ${buf.slice(0, nl)}\n`);
        buf = buf.slice(nl + 1);
      }
    });
  };
  pipe(proc.stdout!, 'stdout');
  pipe(proc.stderr!, 'stderr');
  proc.on('exit', (code, signal) => {
    if (rp.stopping) return;
    log(`${rp.namespace}/${rp.name}/${c.name} exited (${signal ?? code}); restarting`);
    c.ready = false;
    c.restarts++;
    void reportStatus(rp).catch(() => {});
    // Back off like the kubelet (capped lower), and refresh volume files first: a Secret may have changed.
    setTimeout(async () => {
      if (rp.stopping) return;
      await prepareVolumes(rp.pod, rp.dir).catch(() => {});
      if (rp.stopping) return;
      startProcess(rp, c, exe, argv, env);
      void waitListening(rp, c).then(() => reportStatus(rp)).catch(() => {});
    }, Math.min(1000 * c.restarts, 10_000));
  });
}

async function waitListening(rp: RunningPod, c: Container): Promise<void> {
  const pid = c.proc?.pid;
  for (let i = 0; i < 200 && pid && !rp.stopping; i++) {
    if (listening(pid)) break;
    await sleep(50);
  }
  c.ready = true;
}

// ---------------------------------------------------------------- pod lifecycle

const seconds = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

async function reportStatus(rp: RunningPod, pod?: any): Promise<void> {
  const now = seconds(new Date().toISOString());
  const ready = rp.containers.every((c) => c.ready);
  const cond = (type: string, status: boolean) => ({ type, status: status ? 'True' : 'False', lastTransitionTime: now, lastProbeTime: null });
  await client.mergePatch(`/api/v1/namespaces/${rp.namespace}/pods/${rp.name}/status`, {
    status: {
      phase: 'Running',
      hostIP: NETWORK.nodeIP,
      hostIPs: [{ ip: NETWORK.nodeIP }],
      podIP: rp.ip,
      podIPs: [{ ip: rp.ip }],
      ...(pod ? { startTime: now } : {}),
      conditions: [
        cond('PodReadyToStartContainers', true),
        cond('Initialized', true),
        cond('Ready', ready),
        cond('ContainersReady', ready),
        cond('PodScheduled', true),
      ],
      containerStatuses: rp.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: c.image,
        containerID: `portico://${rp.uid}-${c.name}`,
        ready: c.ready,
        started: true,
        restartCount: c.restarts,
        state: { running: { startedAt: c.startedAt } },
      })),
    },
  });
}

/** Volumes of a pod once their sources exist (the suite creates some Secrets after the Deployments). */
async function prepareVolumesWhenAvailable(rp: RunningPod, pod: any): Promise<Map<string, string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await prepareVolumes(pod, rp.dir);
    } catch (e) {
      if (!(e instanceof MissingSource) || rp.stopping) throw e;
      if (attempt % 30 === 0) log(`${rp.namespace}/${rp.name}: waiting for ${e.message}`);
      await sleep(1000);
      // Events of this pod queue behind us, so look for its deletion ourselves.
      const current = await client.getOrNull(`/api/v1/namespaces/${rp.namespace}/pods/${rp.name}`);
      if (!current || current.metadata.uid !== rp.uid || current.metadata.deletionTimestamp) throw new Error('pod deleted while waiting for its volumes', { cause: e });
    }
  }
}

async function startPod(pod: any): Promise<void> {
  const uid = pod.metadata.uid;
  const ip = podIPs.allocate();
  const rp: RunningPod = {
    uid,
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    ip,
    netns: NETWORK.netnsPrefix + ip.split('.')[3],
    dir: join(workDir, 'pods', uid),
    containers: [],
    stopping: false,
    pod,
  };
  pods.set(uid, rp);
  mkdirSync(join(rp.dir, 'logs'), { recursive: true });
  await createPodNetns({ netns: rp.netns, podIP: ip, prefixLen: 24, gateway: NETWORK.nodeIP, bridge: NETWORK.bridge });
  const volDirs = await prepareVolumesWhenAvailable(rp, pod);
  if (rp.stopping) return;
  for (const c of pod.spec.containers) {
    const container: Container = { name: c.name, logFile: join(rp.dir, 'logs', `${c.name}.log`), restarts: 0, startedAt: seconds(new Date().toISOString()), ready: false, image: c.image };
    rp.containers.push(container);
    const cmd = commandFor(c.image, c.args ?? []);
    if (!cmd) {
      log(`${rp.namespace}/${rp.name}: image ${c.image} is not runnable here; marking it ready without a process`);
      container.ready = true;
      continue;
    }
    const mounts: Array<[string, string]> = (c.volumeMounts ?? []).map((m: any) => [m.mountPath, volDirs.get(m.name) ?? m.mountPath]);
    const env = await containerEnv(pod, c, ip, mounts);
    startProcess(rp, container, cmd.exe, cmd.argv, env);
  }
  await Promise.all(rp.containers.map((c) => (c.proc ? waitListening(rp, c) : undefined)));
  if (rp.stopping) return;
  await reportStatus(rp, pod);
  log(`started ${rp.namespace}/${rp.name} at ${ip}`);
}

async function stopPod(uid: string): Promise<void> {
  const rp = pods.get(uid);
  if (!rp) return;
  rp.stopping = true;
  for (const c of rp.containers) {
    if (c.proc?.pid && c.proc.exitCode === null) {
      try {
        process.kill(-c.proc.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    c.logStream?.end();
  }
  await deletePodNetns(rp.netns, vethName(rp.ip));
  rmSync(rp.dir, { recursive: true, force: true });
  podIPs.release(rp.ip);
  pods.delete(uid);
  log(`stopped ${rp.namespace}/${rp.name}`);
}

/** Brings the local state of one pod in line with the API object (or its absence). */
async function reconcile(type: string, pod: any): Promise<void> {
  const uid = pod.metadata.uid;
  if (type === 'DELETED') return stopPod(uid);
  if (pod.metadata.deletionTimestamp) {
    await stopPod(uid);
    // The kubelet's final step: remove the object once its containers are gone.
    await client.delete(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
      apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid },
    }).catch((e) => {
      if (!(e instanceof KubeError && e.status === 409)) throw e;
    });
    return;
  }
  if (pods.has(uid) || starting.has(uid) || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
  starting.add(uid);
  try {
    await startPod(pod);
  } catch (e) {
    log(`failed to start ${pod.metadata.namespace}/${pod.metadata.name}: ${String(e)}`);
    await stopPod(uid);
  } finally {
    starting.delete(uid);
  }
}

// Pod events of one uid are handled in order; different pods proceed concurrently.
const queues = new Map<string, Promise<void>>();
function enqueue(type: string, pod: any): void {
  const uid = pod.metadata.uid;
  const next = (queues.get(uid) ?? Promise.resolve()).then(() => reconcile(type, pod)).catch((e) => log(`reconcile ${pod.metadata.name}: ${String(e)}`));
  queues.set(uid, next);
  void next.then(() => {
    if (queues.get(uid) === next) queues.delete(uid);
  });
}

async function podLoop(signal: AbortSignal): Promise<void> {
  const path = `/api/v1/pods?fieldSelector=spec.nodeName%3D${nodeName}`;
  while (!signal.aborted) {
    try {
      const list = await client.get(path);
      const seen = new Set<string>();
      for (const pod of list.items) {
        seen.add(pod.metadata.uid);
        enqueue('ADDED', pod);
      }
      for (const uid of pods.keys()) if (!seen.has(uid)) enqueue('DELETED', { metadata: { uid } });
      await client.watch(path, list.metadata.resourceVersion, (type, obj) => {
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') enqueue(type, obj);
      }, signal);
    } catch (e) {
      if (!signal.aborted) log(`pod watch: ${String(e)}; relisting`);
      await sleep(1000);
    }
  }
}

// ---------------------------------------------------------------- the kubelet API (logs only)

function kubeletServer(): https.Server {
  return https.createServer(
    {
      cert: readFileSync(args['kubelet-cert'] as string),
      key: readFileSync(args['kubelet-key'] as string),
      ca: readFileSync(args['client-ca'] as string),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://node');
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (url.pathname === '/healthz') return void res.end('ok');
      if (!m) {
        res.statusCode = 404;
        return void res.end('not found');
      }
      const [, ns, name, container] = m.map(decodeURIComponent);
      const rp = [...pods.values()].find((p) => p.namespace === ns && p.name === name);
      const c = rp?.containers.find((x) => x.name === container);
      if (!c) {
        res.statusCode = 404;
        return void res.end(`container ${container} of pod ${ns}/${name} not found on this node`);
      }
      res.setHeader('content-type', 'text/plain');
      res.end(readLogs(c.logFile, url.searchParams));
    },
  );
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  mkdirSync(workDir, { recursive: true });
  await ensureBridge(NETWORK.bridge, `${NETWORK.nodeIP}/24`);
  const server = kubeletServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(NETWORK.kubeletPort, NETWORK.nodeIP, () => resolve());
  });
  await registerNode();
  await heartbeat();
  await untaint();
  const beat = setInterval(() => void heartbeat().catch((e) => log(`heartbeat: ${String(e)}`)), 10_000);
  const abort = new AbortController();
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log('shutting down');
    abort.abort();
    clearInterval(beat);
    server.close();
    await Promise.all([...pods.keys()].map((uid) => stopPod(uid).catch(() => {})));
    await cleanupNetwork(NETWORK.netnsPrefix, NETWORK.bridge);
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  log(`node ${nodeName} registered; kubelet API on https://${NETWORK.nodeIP}:${NETWORK.kubeletPort}`);
  await podLoop(abort.signal);
}

main().catch((e) => {
  log(`fatal: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
