// `portico run -f PATH…`: the whole pipeline in one process. The file provider watches the
// manifests; each change is translated and applied to the data plane; the admin API serves
// health, live status, the IR and metrics. SIGINT / SIGTERM stop it cleanly.
import { parseArgs } from 'node:util';
import { startAdminServer } from '../admin/server.ts';
import { createDataPlane } from '../dataplane/index.ts';
import { FileProvider } from '../providers/files/index.ts';
import type { Snapshot } from '../providers/snapshot.ts';
import { splitHostPort } from '../status/programmed.ts';
import { requirePaths, statusList, UsageError } from './common.ts';
import { Controller } from './controller.ts';
import type { KubernetesMode } from '../providers/kubernetes/mode.ts';

export const RUN_USAGE = `Usage: portico run (-f PATH… | --kubernetes) [options]

Serves traffic for the Gateways in the manifests (files or directories, YAML or JSON) and keeps
following them: a saved change is live within a moment. A file that does not parse keeps its
last good version; an object the API server would refuse is not served (its last valid version
keeps serving) and its status says why. Status and configuration are on the admin API.

Options:
  -f, --filename PATH         manifest file or directory (repeatable)
      --admin-address H:P     admin API address (default 127.0.0.1:9901; port 0 picks a free one)
      --bind-address ADDR     address bound by Gateways without spec.addresses (default 0.0.0.0)
      --workers N             data plane worker processes (default: one per core; 0: in-process)
      --no-access-log         no JSON access log line per request on stdout
      --debug-headers         add a response header naming the route and rule that served it
      --kubernetes            read from the Kubernetes API server instead of files, and write
                              status there (the elected leader); no -f
      --kubeconfig PATH       with --kubernetes: kubeconfig (default $KUBECONFIG, in-cluster, ~/.kube/config)
      --address-pool CIDR     with --kubernetes: addresses for Gateways without spec.addresses
      --controller-name NAME  GatewayClasses Portico serves (default portico.dev/gateway-controller)
      --gateway-service-type T  with --kubernetes: type of the Service generated per Gateway:
                              ClusterIP (default), NodePort, LoadBalancer, or None (no Services)
      --gateway-service-selector K=V[,K=V]  with --kubernetes: the generated Services' selector,
                              the labels of Portico's pods (default app.kubernetes.io/name=portico)
  -h, --help                  this help
`;

/** What run needs of a provider; the file and Kubernetes providers both have this shape. */
interface Provider {
  reload(): Promise<boolean>;
  snapshot(): Snapshot;
  watch(onSnapshot: (snapshot: Snapshot) => void): void;
  close(): void | Promise<void>;
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      'admin-address': { type: 'string', default: '127.0.0.1:9901' },
      'bind-address': { type: 'string', default: '0.0.0.0' },
      workers: { type: 'string' },
      'no-access-log': { type: 'boolean' },
      'debug-headers': { type: 'boolean' },
      kubernetes: { type: 'boolean' },
      kubeconfig: { type: 'string' },
      'address-pool': { type: 'string' },
      'controller-name': { type: 'string' },
      'gateway-service-type': { type: 'string' },
      'gateway-service-selector': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  const kubernetes = values.kubernetes === true;
  if (kubernetes && values.filename) throw new UsageError('--kubernetes reads from the API server: no -f');
  if (!kubernetes && (values.kubeconfig || values['address-pool'])) throw new UsageError('--kubeconfig and --address-pool go with --kubernetes');
  const gatewayServices = await gatewayServiceFlags(kubernetes, values['gateway-service-type'], values['gateway-service-selector']);
  const paths = kubernetes ? [] : requirePaths(values.filename);
  const admin = splitHostPort(values['admin-address']);
  if (!Number.isInteger(admin.port) || admin.port < 0 || admin.port > 65535) throw new UsageError(`--admin-address must be HOST:PORT, not "${values['admin-address']}"`);
  let workers: number | undefined;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers must be a whole number, not "${values.workers}"`);
  }
  const bindAddress = values['bind-address'];

  const log = (line: string) => process.stderr.write(`${line}\n`);
  const dataPlane = await createDataPlane({ bindAddress, workers, accessLog: !values['no-access-log'], debugHeaders: values['debug-headers'] === true });
  let kubeMode: KubernetesMode | undefined;
  const controllerName = values['controller-name'];
  const controller = new Controller({ dataPlane, bindAddress, log, controllerName, onStatusChange: () => kubeMode?.statusChanged() });
  let provider: Provider;
  if (kubernetes) {
    try {
      const { KubernetesMode } = await import('../providers/kubernetes/mode.ts');
      kubeMode = new KubernetesMode({ kubeconfig: values.kubeconfig, addressPool: values['address-pool'], controllerName, log, gatewayServices, statuses: () => controller.statuses() });
      provider = kubeMode.provider;
    } catch (err) {
      log(`portico: --kubernetes: ${err instanceof Error ? err.message : String(err)}`);
      await dataPlane.close();
      return 1;
    }
  } else {
    provider = new FileProvider({ paths, log });
  }

  let adminServer;
  try {
    adminServer = await startAdminServer(admin.host || '127.0.0.1', admin.port, {
      ready: () => controller.ready(),
      status: () => statusList(controller.statuses()),
      config: () => controller.config(),
      metrics: async () => `${await dataPlane.metrics()}${controller.metrics()}`,
    });
  } catch (err) {
    log(`portico: cannot serve the admin API on ${values['admin-address']}: ${err instanceof Error ? err.message : String(err)}`);
    await dataPlane.close();
    return 1;
  }
  log(`portico: admin API on http://${adminServer.address}`);

  let stopping = false;
  const stop = async (why: string, code = 0) => {
    if (stopping) process.exit(130); // a second signal: don't wait any longer
    stopping = true;
    log(`portico: ${why}: stopping`);
    await Promise.allSettled([kubeMode ? kubeMode.close() : provider.close(), adminServer.close(), dataPlane.close()]);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  kubeMode?.start();
  try {
    await provider.reload();
  } catch (err) {
    log(`portico: ${err instanceof Error ? err.message : String(err)}`);
    await stop('cannot read the configuration', 1);
  }
  // Watch after the first read (the file provider learns there which paths are directories);
  // a snapshot published in between is picked up by the update() that follows.
  provider.watch((snapshot) => controller.update(snapshot));
  controller.update(provider.snapshot());
  log(kubernetes ? 'portico: following the Kubernetes API server' : `portico: watching ${paths.join(', ')}`);
  // Keep running until a signal arrives (the admin server and watchers hold the event loop).
  return new Promise<number>(() => {});
}

/** --gateway-service-type and --gateway-service-selector (src/providers/kubernetes/infrastructure.ts). */
async function gatewayServiceFlags(kubernetes: boolean, type: string | undefined, selector: string | undefined) {
  if (type === undefined && selector === undefined) return undefined;
  if (!kubernetes) throw new UsageError('--gateway-service-type and --gateway-service-selector go with --kubernetes');
  const { parseSelector, SERVICE_TYPES } = await import('../providers/kubernetes/infrastructure.ts');
  if (type === 'None') return false;
  const t = SERVICE_TYPES.find((x) => x === type);
  if (type !== undefined && !t) throw new UsageError(`--gateway-service-type must be ${SERVICE_TYPES.join(', ')} or None, not "${type}"`);
  try {
    return { type: t, selector: selector === undefined ? undefined : parseSelector(selector) };
  } catch (err) {
    throw new UsageError(`--gateway-service-selector: ${(err as Error).message}`);
  }
}
