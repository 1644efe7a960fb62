// A deliberately small Kubernetes REST client for the local cluster's own tooling (cluster setup,
// node agent, conformance runner, tests). It speaks HTTPS with a client certificate, which is all the
// local cluster uses. Portico's Kubernetes provider has its own client; this one only needs
// get/list/create/apply/patch/delete/watch on a handful of kinds.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';

export interface KubeCredentials {
  server: string; // https://127.0.0.1:port
  ca: string; // PEM
  cert: string; // PEM client certificate
  key: string; // PEM client key
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: any };
  [k: string]: any;
}

export class KubeError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, method: string, path: string, body: string) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 500)}`);
    this.status = status;
    this.body = body;
  }
}

/** Reads the first cluster/user of a kubeconfig that embeds (or points to) its certificates. */
export function credentialsFromKubeconfig(path: string): KubeCredentials {
  const cfg = YAML.parse(readFileSync(path, 'utf8'));
  const cluster = cfg.clusters[0].cluster;
  const user = cfg.users[0].user;
  const pem = (data: string | undefined, file: string | undefined): string =>
    data ? Buffer.from(data, 'base64').toString('utf8') : readFileSync(file as string, 'utf8');
  return {
    server: cluster.server,
    ca: pem(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: pem(user['client-certificate-data'], user['client-certificate']),
    key: pem(user['client-key-data'], user['client-key']),
  };
}

/** Irregular plurals of the kinds we touch; the rest are lowercase + "s". */
const PLURALS: Record<string, string> = {
  Endpoints: 'endpoints',
  Ingress: 'ingresses',
};

export function pluralOf(kind: string): string {
  if (PLURALS[kind]) return PLURALS[kind];
  const lower = kind.toLowerCase();
  if (lower.endsWith('y')) return lower.slice(0, -1) + 'ies';
  if (lower.endsWith('s')) return lower + 'es';
  return lower + 's';
}

/** REST path of a collection or of one object, from apiVersion/kind/namespace/name. */
export function resourcePath(apiVersion: string, kind: string, namespace?: string, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name ? `/${encodeURIComponent(name)}` : '';
  return `${base}${ns}/${pluralOf(kind)}${n}`;
}

export class KubeClient {
  readonly creds: KubeCredentials;
  private readonly agent: https.Agent;

  constructor(creds: KubeCredentials) {
    this.creds = creds;
    this.agent = new https.Agent({ ca: creds.ca, cert: creds.cert, key: creds.key, keepAlive: true });
  }

  static fromKubeconfig(path: string): KubeClient {
    return new KubeClient(credentialsFromKubeconfig(path));
  }

  close(): void {
    this.agent.destroy();
  }

  /** One JSON request. Resolves with the parsed body; rejects with KubeError on a non-2xx status. */
  request(method: string, path: string, body?: unknown, contentType = 'application/json', timeoutMs = 30_000): Promise<any> {
    const url = new URL(path, this.creds.server);
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) return reject(new KubeError(status, method, path, text));
            if (!text) return resolve(undefined);
            try {
              resolve(JSON.parse(text));
            } catch {
              resolve(text);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get(path: string): Promise<any> {
    return this.request('GET', path);
  }

  /** GET that returns undefined on 404 instead of failing. */
  async getOrNull(path: string): Promise<any> {
    try {
      return await this.get(path);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return undefined;
      throw e;
    }
  }

  create(obj: KubeObject): Promise<any> {
    return this.request('POST', resourcePath(obj.apiVersion, obj.kind, obj.metadata.namespace), obj);
  }

  /** Server-side apply: creates or updates, owned by the given field manager. */
  apply(obj: KubeObject, fieldManager = 'portico-cluster'): Promise<any> {
    const path = resourcePath(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    return this.request('PATCH', `${path}?fieldManager=${fieldManager}&force=true`, obj, 'application/apply-patch+yaml');
  }

  mergePatch(path: string, patch: unknown): Promise<any> {
    return this.request('PATCH', path, patch, 'application/merge-patch+json');
  }

  async delete(path: string, body?: unknown): Promise<void> {
    try {
      await this.request('DELETE', path, body);
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return;
      throw e;
    }
  }

  /**
   * Streams watch events of a collection path (already carrying its query, without watch=1) until
   * the server closes the stream or `signal` aborts. Resolves when the stream ends; the caller
   * re-lists or re-watches.
   */
  watch(path: string, resourceVersion: string, onEvent: (type: string, obj: any) => void, signal?: AbortSignal): Promise<void> {
    const sep = path.includes('?') ? '&' : '?';
    const url = new URL(`${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}&timeoutSeconds=300`, this.creds.server);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method: 'GET', agent: this.agent, headers: { accept: 'application/json' }, signal }, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(new KubeError(res.statusCode ?? 0, 'WATCH', path, Buffer.concat(chunks).toString('utf8'))));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const ev = JSON.parse(line);
              onEvent(ev.type, ev.object);
            } catch (e) {
              reject(e);
              req.destroy();
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (signal?.aborted ? resolve() : reject(e)));
      });
      req.on('error', (e) => (signal?.aborted ? resolve() : reject(e)));
      req.end();
    });
  }
}

/** Parses a multi-document YAML file into objects, dropping empty documents. */
export function parseManifests(text: string): KubeObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJSON())
    .filter((o): o is KubeObject => o && typeof o === 'object' && typeof o.kind === 'string');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; errors count as "not yet". */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
