// `portico run -f PATH…`: the whole pipeline in one process. The file provider watches the
// manifests; each change is translated and applied to the data plane; the admin API serves
// health, live status, the IR and metrics. SIGINT / SIGTERM stop it cleanly.
import { parseArgs } from 'node:util';
import { startAdminServer } from '../admin/server.ts';
import { createDataPlane } from '../dataplane/index.ts';
import { FileProvider } from '../providers/files/index.ts';
import { splitHostPort } from '../status/programmed.ts';
import { requirePaths, statusList, UsageError } from './common.ts';
import { Controller } from './controller.ts';

export const RUN_USAGE = `Usage: portico run -f PATH… [options]

Serves traffic for the Gateways in the manifests (files or directories, YAML or JSON) and keeps
following them: a saved change is live within a moment. A file that does not parse keeps its
last good version. Status and configuration are on the admin API.

Options:
  -f, --filename PATH         manifest file or directory (repeatable)
      --admin-address H:P     admin API address (default 127.0.0.1:9901; port 0 picks a free one)
      --bind-address ADDR     address bound by Gateways without spec.addresses (default 0.0.0.0)
      --workers N             data plane worker processes (default: one per core; 0: in-process)
      --no-access-log         no JSON access log line per request on stdout
      --debug-headers         add a response header naming the route and rule that served it
      --kubernetes            read from a Kubernetes API server instead of files (not yet implemented)
  -h, --help                  this help
`;

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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (values.kubernetes) {
    process.stderr.write('portico: --kubernetes: not yet implemented\n');
    return 2;
  }
  const paths = requirePaths(values.filename);
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
  const controller = new Controller({ dataPlane, bindAddress, log });
  const provider = new FileProvider({ paths, log });

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
  const stop = async (signal: string) => {
    if (stopping) process.exit(130); // a second signal: don't wait any longer
    stopping = true;
    log(`portico: ${signal}: stopping`);
    provider.close();
    await Promise.allSettled([adminServer.close(), dataPlane.close()]);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  await provider.reload();
  controller.update(provider.snapshot());
  provider.watch((snapshot) => controller.update(snapshot));
  log(`portico: watching ${paths.join(', ')}`);
  // Keep running until a signal arrives (the admin server and watchers hold the event loop).
  return new Promise<number>(() => {});
}
