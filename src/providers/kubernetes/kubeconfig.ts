// Where the API server is and how to authenticate to it: a kubeconfig file (client certificate,
// bearer token, token file, CA data or file) or, inside a pod, the service account mounted at
// /var/run/secrets/kubernetes.io/serviceaccount. Exec and auth-provider plugins are refused with
// a clear message rather than silently ignored.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** Everything the HTTP client needs to talk to one API server. */
export interface ClusterConnection {
  /** Base URL, e.g. "https://127.0.0.1:6443" (no trailing slash). */
  server: string;
  /** PEM bundle that signs the server certificate; absent means the system roots. */
  ca?: string;
  /** Client certificate and key (PEM). */
  cert?: string;
  key?: string;
  /** Returns the current bearer token (re-reads token files, which rotate in a pod). */
  token?: () => string | undefined;
  insecureSkipTLSVerify?: boolean;
  /** Name checked against the server certificate instead of the URL's host. */
  tlsServerName?: string;
  /** The context's namespace (in a pod: the pod's namespace); leases live there. */
  namespace: string;
  /** Where this came from, for messages: a file path or "in-cluster". */
  source: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeconfigError extends Error {}

/**
 * Resolves the connection the way kubectl does, minus merging: an explicit file, else the first
 * existing file in $KUBECONFIG, else the in-cluster service account, else ~/.kube/config.
 */
export function loadConnection(options: { kubeconfig?: string; context?: string; env?: NodeJS.ProcessEnv; serviceAccountDir?: string } = {}): ClusterConnection {
  const env = options.env ?? process.env;
  if (options.kubeconfig) return loadKubeconfigFile(options.kubeconfig, options.context);
  for (const file of (env.KUBECONFIG ?? '').split(':').filter(Boolean)) {
    if (existsSync(file)) return loadKubeconfigFile(file, options.context);
  }
  const saDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) return inClusterConnection(env, saDir);
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return loadKubeconfigFile(home, options.context);
  throw new KubeconfigError('no kubeconfig found: pass --kubeconfig FILE, set KUBECONFIG, or run in a pod with a service account');
}

export function loadKubeconfigFile(file: string, context?: string): ClusterConnection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  return parseKubeconfig(text, { file, context });
}

interface NamedEntry<T> { name?: string; [k: string]: unknown; value?: T }

/** Parses kubeconfig YAML. Relative file paths are resolved against the file's directory. */
export function parseKubeconfig(text: string, options: { file?: string; context?: string } = {}): ClusterConnection {
  const source = options.file ?? 'kubeconfig';
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  if (!isRecord(doc)) throw new KubeconfigError(`${source}: not a kubeconfig (expected a mapping)`);
  const baseDir = options.file ? dirname(options.file) : process.cwd();
  const resolvePath = (p: string): string => (isAbsolute(p) ? p : join(baseDir, p));

  const contextName = options.context ?? str(doc['current-context']);
  if (!contextName) throw new KubeconfigError(`${source}: no current-context and no context given`);
  const ctx = findNamed(doc.contexts, 'context', contextName);
  if (!ctx) throw new KubeconfigError(`${source}: context "${contextName}" not found`);
  const clusterName = str(ctx.cluster);
  const cluster = clusterName ? findNamed(doc.clusters, 'cluster', clusterName) : undefined;
  if (!cluster) throw new KubeconfigError(`${source}: cluster "${clusterName ?? ''}" of context "${contextName}" not found`);
  const userName = str(ctx.user);
  const user = userName ? findNamed(doc.users, 'user', userName) ?? {} : {};

  const server = str(cluster.server);
  if (!server) throw new KubeconfigError(`${source}: cluster "${clusterName}" has no server`);
  const conn: ClusterConnection = {
    server: server.replace(/\/+$/, ''),
    namespace: str(ctx.namespace) ?? 'default',
    source,
  };
  const ca = pemFrom(cluster['certificate-authority-data'], cluster['certificate-authority'], resolvePath, 'certificate-authority', source);
  if (ca) conn.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) conn.insecureSkipTLSVerify = true;
  if (str(cluster['tls-server-name'])) conn.tlsServerName = str(cluster['tls-server-name']);

  if (user.exec || user['auth-provider']) {
    throw new KubeconfigError(`${source}: user "${userName}" uses an exec/auth-provider plugin, which Portico does not run; use a client certificate or a token`);
  }
  const cert = pemFrom(user['client-certificate-data'], user['client-certificate'], resolvePath, 'client-certificate', source);
  const key = pemFrom(user['client-key-data'], user['client-key'], resolvePath, 'client-key', source);
  if (cert) conn.cert = cert;
  if (key) conn.key = key;
  if (Boolean(cert) !== Boolean(key)) throw new KubeconfigError(`${source}: user "${userName}" has a client certificate without a key, or a key without a certificate`);
  const token = str(user.token);
  const tokenFile = str(user.tokenFile);
  if (token) conn.token = () => token;
  else if (tokenFile) conn.token = fileToken(resolvePath(tokenFile));
  if (str(user.username) && !token && !cert) {
    throw new KubeconfigError(`${source}: basic authentication (username/password) is not supported; use a client certificate or a token`);
  }
  return conn;
}

/** The service account of the pod Portico runs in. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR): ClusterConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new KubeconfigError('not running in a pod: KUBERNETES_SERVICE_HOST is not set');
  const conn: ClusterConnection = {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: fileToken(join(saDir, 'token')),
    namespace: readOptional(join(saDir, 'namespace'))?.trim() || 'default',
    source: 'in-cluster',
  };
  const ca = readOptional(join(saDir, 'ca.crt'));
  if (ca) conn.ca = ca;
  return conn;
}

/** Projected service account tokens rotate: re-read the file at most once a minute. */
function fileToken(path: string): () => string | undefined {
  let cached: string | undefined;
  let readAt = 0;
  return () => {
    const now = Date.now();
    if (cached === undefined || now - readAt > 60_000) {
      const text = readOptional(path);
      if (text !== undefined) cached = text.trim();
      readAt = now;
    }
    return cached;
  };
}

function pemFrom(data: unknown, file: unknown, resolvePath: (p: string) => string, what: string, source: string): string | undefined {
  const d = str(data);
  if (d) return Buffer.from(d, 'base64').toString('utf8');
  const f = str(file);
  if (!f) return undefined;
  try {
    return readFileSync(resolvePath(f), 'utf8');
  } catch (err) {
    throw new KubeconfigError(`${source}: cannot read ${what} ${f}: ${(err as Error).message}`);
  }
}

function findNamed(list: unknown, field: string, name: string): Record<string, unknown> | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = list.find((e): e is NamedEntry<unknown> => isRecord(e) && e.name === name);
  const inner = entry?.[field];
  return isRecord(inner) ? inner : entry ? {} : undefined;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
