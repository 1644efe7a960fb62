// A leader-election candidate in its own process, so that a test can kill it for real (SIGKILL:
// no lease release, no clean shutdown). Not a test file; spawned by provider-kubernetes.test.ts.
//   node provider-kubernetes-leader-child.ts KUBECONFIG NAMESPACE LEASE IDENTITY LEASE_SECONDS
import { KubeClient } from '../src/providers/kubernetes/client.ts';
import { loadKubeconfigFile } from '../src/providers/kubernetes/kubeconfig.ts';
import { LeaderElector } from '../src/providers/kubernetes/leader.ts';

const [kubeconfig, namespace, name, identity, seconds] = process.argv.slice(2);
const client = new KubeClient(loadKubeconfigFile(kubeconfig));
const elector = new LeaderElector(client, {
  namespace, name, identity,
  leaseDurationSeconds: Number(seconds),
  renewIntervalMs: 300,
  retryIntervalMs: 300,
  onStartedLeading: () => process.stdout.write('LEADING\n'),
  onStoppedLeading: () => process.stdout.write('STOPPED\n'),
});
elector.start();
