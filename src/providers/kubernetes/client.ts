// A small Kubernetes API client over node:https: JSON requests and streaming watches. We write
// our own rather than use @kubernetes/client-node because we need exactly three things (list,
// watch with bookmarks, status updates) and full control over watch lifetimes and errors.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { ClusterConnection } from './kubeconfig.ts';

/** An error answer from the API server (or a transport failure, status 0). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(status: number, message: string, reason?: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, any>;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Default 30 s. */
  timeoutMs?: number;
  /** Resolve with the body as text instead of parsed JSON (e.g. /readyz). */
  text?: boolean;
  signal?: AbortSignal;
  /** Accept header (default application/json), e.g. to ask for metadata only. */
  accept?: string;
}

export interface WatchOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** The watch is aborted when no byte arrived for this long (half-open connections). */
  idleTimeoutMs: number;
  signal?: AbortSignal;
  /** Called once the server has accepted the watch (200 OK), before any event. */
  onOpen?: () => void;
  /** Accept header (default application/json), e.g. to ask for metadata only. */
  accept?: string;
}

const USER_AGENT = 'portico/0.1';

export class KubeClient {
  readonly connection: ClusterConnection;
  private readonly agent: http.Agent;
  private readonly base: URL;
  /** Open sockets, so that destroyConnections() can cut open watches immediately. */
  private readonly sockets = new Set<Socket>();

  constructor(connection: ClusterConnection) {
    this.connection = connection;
    this.base = new URL(connection.server);
    const tls = {
      ca: connection.ca,
      cert: connection.cert,
      key: connection.key,
      rejectUnauthorized: !connection.insecureSkipTLSVerify,
      servername: connection.tlsServerName,
    };
    this.agent = this.base.protocol === 'http:'
      ? new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000 })
      : new https.Agent({ keepAlive: true, keepAliveMsecs: 10_000, ...tls });
  }

  /** A JSON request; resolves with the parsed body, rejects with KubeApiError on non-2xx. */
  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const res = await this.send(method, path, options.query, {
      ...(body ? { 'content-type': options.contentType ?? 'application/json', 'content-length': String(body.length) } : {}),
      ...(options.accept ? { accept: options.accept } : {}),
    }, body, options.timeoutMs ?? 30_000, options.signal);
    const text = await readAll(res, options.timeoutMs ?? 30_000);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiError(status, text, method, path);
    if (options.text) return text as T;
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Streams a watch: calls onEvent for each event line. Resolves when the server ends the
   * stream (timeoutSeconds reached); rejects on HTTP errors, transport errors or idleness.
   */
  async watch(path: string, onEvent: (e: WatchEvent) => void, options: WatchOptions): Promise<void> {
    const res = await this.send('GET', path, { ...options.query, watch: true }, options.accept ? { accept: options.accept } : {}, undefined, options.idleTimeoutMs, options.signal);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiError(status, await readAll(res, 10_000), 'WATCH', path);
    options.onOpen?.();
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err) {
          res.destroy();
          reject(err);
        } else resolve();
      };
      let timer = setTimeout(() => finish(new KubeApiError(0, `watch ${path}: no data for ${options.idleTimeoutMs} ms`)), options.idleTimeoutMs);
      const onAbort = (): void => finish(new KubeApiError(0, `watch ${path}: aborted`, 'Aborted'));
      options.signal?.addEventListener('abort', onAbort);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => finish(new KubeApiError(0, `watch ${path}: no data for ${options.idleTimeoutMs} ms`)), options.idleTimeoutMs);
        buffered += chunk;
        let nl: number;
        while (!done && (nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          let event: WatchEvent;
          try {
            event = JSON.parse(line) as WatchEvent;
          } catch {
            finish(new KubeApiError(0, `watch ${path}: unparseable event`));
            return;
          }
          try {
            onEvent(event);
          } catch (err) {
            finish(err as Error);
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', (err) => finish(new KubeApiError(0, `watch ${path}: ${err.message}`)));
      res.on('close', () => finish(res.complete ? undefined : new KubeApiError(0, `watch ${path}: connection closed`)));
    });
  }

  /** Cuts every open connection (open watches fail and their owners reconnect or stop). */
  destroyConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  close(): void {
    this.destroyConnections();
    this.agent.destroy();
  }

  private send(
    method: string, path: string, query: RequestOptions['query'], headers: Record<string, string>,
    body: Buffer | undefined, timeoutMs: number, signal?: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const token = this.connection.token?.();
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, {
        method,
        agent: this.agent,
        headers: {
          accept: 'application/json',
          'user-agent': USER_AGENT,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        signal,
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('socket', (socket) => {
        // Keep-alive sockets serve many requests: register each one once.
        if (this.sockets.has(socket)) return;
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
      req.on('response', (res) => {
        req.setTimeout(0);
        resolve(res);
      });
      req.on('error', (err) => reject(new KubeApiError(0, `${method} ${url.pathname}: ${err.message}`, (err as NodeJS.ErrnoException).code)));
      req.end(body);
    });
  }
}

function readAll(res: http.IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => res.destroy(new Error(`body not received within ${timeoutMs} ms`)), timeoutMs);
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', (err) => {
      clearTimeout(timer);
      reject(new KubeApiError(0, err.message));
    });
  });
}

function apiError(status: number, text: string, method: string, path: string): KubeApiError {
  let message = text.trim().slice(0, 500);
  let reason: string | undefined;
  try {
    const parsed = JSON.parse(text) as { message?: string; reason?: string };
    if (parsed.message) message = parsed.message;
    reason = parsed.reason;
  } catch {
    // not a Status object: keep the raw text
  }
  return new KubeApiError(status, `${method} ${path}: ${status} ${message}`, reason);
}

/** Path of a collection or of one object. */
export function resourcePath(r: { group: string; version: string; plural: string; namespaced: boolean }, namespace?: string, name?: string, subresource?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}
