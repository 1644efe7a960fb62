// The admin API of `portico run`: health, readiness, live status, the IR and metrics, over plain
// HTTP on --admin-address (default 127.0.0.1:9901). Read-only; a failing handler answers 500
// and never takes the process down.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { renderStatusPage } from './ui.ts';

/** What the admin API shows; `portico run` implements it with its controller and data plane. */
export interface AdminSource {
  /** True once the first configuration is live in the data plane. */
  ready(): boolean;
  /** The `kind: List` of owned objects with live status. */
  status(): unknown;
  /** The IR (undefined before the first translation). */
  config(): unknown;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
}

export interface AdminServer {
  /** The bound address, e.g. "127.0.0.1:9901" (the real port when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

const INDEX = `Portico admin API (open it in a browser for the status page)
  GET /healthz   liveness: 200 ok
  GET /readyz    200 once the first configuration is live in the data plane, else 503
  GET /status    every object Portico owns, with live status (kind: List; ?output=yaml for YAML)
  GET /config    the configuration (IR) handed to the data plane, as JSON
  GET /metrics   Prometheus metrics of the data plane and the control plane
`;

export async function startAdminServer(host: string, port: number, source: AdminSource): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    handle(req, res, source).catch((err: unknown) => {
      send(res, 500, 'text/plain; charset=utf-8', `internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  // Admin clients are local tools; don't keep idle connections around on shutdown.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {});
  const a = server.address() as AddressInfo;
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, source: AdminSource): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  switch (url.pathname) {
    case '/':
      // Browsers get the status page; tools (curl) the list of endpoints.
      if ((req.headers.accept ?? '').includes('text/html')) return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(source.status(), source.ready()));
      return send(res, 200, 'text/plain; charset=utf-8', INDEX);
    case '/healthz':
      return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    case '/readyz':
      return source.ready()
        ? send(res, 200, 'text/plain; charset=utf-8', 'ready\n')
        : send(res, 503, 'text/plain; charset=utf-8', 'not ready: no configuration is live in the data plane yet\n');
    case '/status': {
      const list = source.status();
      const output = url.searchParams.get('output') ?? url.searchParams.get('o');
      if (output === 'yaml') return send(res, 200, 'application/yaml; charset=utf-8', stringify(list, { lineWidth: 0, aliasDuplicateObjects: false }));
      return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(list, null, 2)}\n`);
    }
    case '/config':
      // Private keys of TLS certificates never leave the process (the admin API may be reachable
      // from the pod network in Kubernetes mode).
      return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(source.config() ?? null, redactSecrets, 2)}\n`);
    case '/metrics':
      return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await source.metrics());
    default:
      return send(res, 404, 'text/plain; charset=utf-8', `not found; see GET /\n`);
  }
}

function redactSecrets(key: string, value: unknown): unknown {
  return key === 'keyPem' && typeof value === 'string' ? '(redacted)' : value;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
