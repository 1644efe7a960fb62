// The node agent (conformance/node-agent) as the conformance suite uses it: a Deployment of the
// upstream echo-basic becomes Ready pods with real IPs in their own network namespaces, the
// controller-manager publishes them in an EndpointSlice, they answer HTTP with their identity
// (POD_NAME/NAMESPACE from the downward API), their logs are readable through the API server,
// and deleting the Deployment removes the pods.
//
// Needs root (network namespaces) and Go (first run builds the cluster); PORTICO_SKIP_CLUSTER=1 skips.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goAvailable } from '../conformance/lib/build.ts';
import { KubeClient, waitFor } from '../conformance/lib/kube.ts';
import { acquire, canRunAgent } from '../conformance/cluster.ts';

const skip =
  process.env.PORTICO_SKIP_CLUSTER === '1' ? 'PORTICO_SKIP_CLUSTER=1'
  : !(await goAvailable()) ? 'go is not installed'
  : !canRunAgent() ? 'not root (the node agent needs network namespaces)'
  : undefined;
if (skip) process.stderr.write(`\n!!! test/cluster-pods.test.ts SKIPPED (${skip}): the node agent is NOT tested !!!\n\n`);

const ns = `cluster-pods-${process.pid}`;
let client: KubeClient;
let release: (() => Promise<void>) | undefined;

before(async () => {
  if (skip) return;
  const cluster = await acquire({ agent: true });
  release = cluster.release;
  client = KubeClient.fromKubeconfig(cluster.kubeconfig);
}, { timeout: 60 * 60_000 });

after(async () => {
  if (client) await client.delete(`/api/v1/namespaces/${ns}`).catch(() => {});
  client?.close();
  await release?.();
});

test('echo-basic pods run, become endpoints, answer, log, and go away', { skip, timeout: 180_000 }, async () => {
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await waitFor('the default ServiceAccount', 30_000, () => client.getOrNull(`/api/v1/namespaces/${ns}/serviceaccounts/default`));
  await client.apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'echo', namespace: ns },
    spec: { selector: { app: 'echo' }, ports: [{ port: 8080, targetPort: 3000 }] },
  });
  await client.apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'echo', namespace: ns },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'echo' } },
      template: {
        metadata: { labels: { app: 'echo' } },
        spec: {
          containers: [{
            name: 'echo',
            image: 'registry.k8s.io/gateway-api/echo-basic:v1.5.1',
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            ],
          }],
        },
      },
    },
  });

  const pods = await waitFor('2 ready pods', 90_000, async () => {
    const list = await client.get(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3Decho`);
    const ready = list.items.filter((p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === 2 ? ready : undefined;
  });
  const ips = pods.map((p: any) => p.status.podIP).sort();
  assert.equal(new Set(ips).size, 2, 'distinct pod IPs');

  const slice = await waitFor('an EndpointSlice with both pods ready', 60_000, async () => {
    const list = await client.get(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Decho`);
    const addrs = list.items.flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).flatMap((e: any) => e.addresses));
    return addrs.length === 2 ? addrs.sort() : undefined;
  });
  assert.deepEqual(slice, ips);

  const since = new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  for (const pod of pods) {
    const res = await fetch(`http://${pod.status.podIP}:3000/probe-${pod.metadata.name}`);
    const body = (await res.json()) as { pod: string; namespace: string; path: string };
    assert.equal(body.pod, pod.metadata.name);
    assert.equal(body.namespace, ns);
  }
  const first = pods[0].metadata.name;
  const logs = await waitFor('the echo log line through the API server', 20_000, async () => {
    const text = await client.get(`/api/v1/namespaces/${ns}/pods/${first}/log?container=echo&sinceTime=${since}`);
    return typeof text === 'string' && text.includes(`Echoing back request made to /probe-${first}`) ? text : undefined;
  });
  assert.match(logs, /Echoing back request/);

  await client.delete(`/apis/apps/v1/namespaces/${ns}/deployments/echo`, { propagationPolicy: 'Foreground' });
  await waitFor('the pods to be gone', 60_000, async () => {
    const list = await client.get(`/api/v1/namespaces/${ns}/pods`);
    return list.items.length === 0;
  });
  await assert.rejects(fetch(`http://${ips[0]}:3000/`, { signal: AbortSignal.timeout(2000) }));
});

/** A self-signed certificate and key (PEM) for `name`. */
function selfSigned(name: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'c'), 'utf8'), key: readFileSync(join(dir, 'k'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a pod waits for a Secret volume created after it, then serves TLS from the mounted files', { skip, timeout: 180_000 }, async () => {
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await waitFor('the default ServiceAccount', 30_000, () => client.getOrNull(`/api/v1/namespaces/${ns}/serviceaccounts/default`));
  // The conformance suite creates its TLS Secrets only after the backend Deployments.
  await client.apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'tls', namespace: ns },
    spec: {
      containers: [{
        name: 'tls',
        image: 'registry.k8s.io/gateway-api/echo-basic:v1.5.1',
        volumeMounts: [{ name: 'secret-volume', mountPath: '/etc/secret-volume' }],
        env: [
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'TLS_SERVER_CERT', value: '/etc/secret-volume/crt' },
          { name: 'TLS_SERVER_PRIVKEY', value: '/etc/secret-volume/key' },
        ],
      }],
      volumes: [{ name: 'secret-volume', secret: { secretName: 'late', items: [{ key: 'tls.crt', path: 'crt' }, { key: 'tls.key', path: 'key' }] } }],
    },
  });
  await new Promise((r) => setTimeout(r, 2000));
  const pending = await client.get(`/api/v1/namespaces/${ns}/pods/tls`);
  assert.ok(!pending.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'), 'not Ready without its Secret');
  const { cert, key } = selfSigned('tls.example.com');
  await client.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'late', namespace: ns },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(cert).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') },
  });
  const pod = await waitFor('the TLS pod to be Ready', 60_000, async () => {
    const p = await client.get(`/api/v1/namespaces/${ns}/pods/tls`);
    return p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });
  const body = await waitFor('an HTTPS answer on 8443', 20_000, () =>
    new Promise<any>((resolve, reject) => {
      const req = https.get({ host: pod.status.podIP, port: 8443, path: '/tls', servername: 'tls.example.com', ca: cert }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
    }));
  assert.equal(body.pod, 'tls');
  assert.equal(body.tls.serverName, 'tls.example.com');
  await client.delete(`/api/v1/namespaces/${ns}/pods/tls`);
});
