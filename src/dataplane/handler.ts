// The request path: listener and virtual host by Host (and SNI), route by matchers, filters, then
// one Exchange per request that is also the undici dispatch handler for its upstream request, so
// proxying a request allocates no closures. Everything it reads was compiled by compile.ts.
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { constants as http2Constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { normalizeHost } from './router/hosts.ts';
import { matches, type RequestView } from './router/match.ts';
import { needsNormalization, normalizePath } from './router/path.ts';
import { applyHeaderOps, type HeaderBag } from './filters/headers.ts';
import { redirectLocation } from './filters/redirect.ts';
import { rewritePath } from './filters/path.ts';
import { addActualHeaders, originAllowed, preflightHeaders } from './filters/cors.ts';
import { chooseMirrors, sendMirrors, teeBody, type ChosenMirror } from './filters/mirror.ts';
import { externalAuth } from './filters/extauth.ts';
import { chooseBackend, cookieValue, nextEndpoint, resolveToken, sessionToken } from './upstream/balance.ts';
import { markDown, markUp, type EndpointRuntime } from './upstream/pools.ts';
import type { H1Handler } from './upstream/h1.ts';
import { observe, type Metrics, type RequestCounter } from './metrics.ts';
import { encodeGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.ts';
import type { BackendChoice, CompiledFilters, ExtAuthRuntime, ListenerRuntime, PortConfig, RouteRuntime } from './model.ts';

export type Req = IncomingMessage | Http2ServerRequest;
export type Res = ServerResponse | Http2ServerResponse;

export interface PortState {
  current: PortConfig;
}

export interface Runtime {
  metrics: Metrics;
  accessLog: boolean;
  debugHeaders: boolean;
  /** DataPlaneOptions.clientHeaderTimeoutMs, resolved. */
  clientHeaderTimeoutMs: number;
  /** DataPlaneOptions.clientBodyTimeoutMs, resolved (0: off). */
  clientBodyTimeoutMs: number;
}

/** Request headers never forwarded (hop-by-hop, RFC 9110 §7.6.1) and HTTP/2 pseudo-headers. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization', 'http2-settings', 'host']);
const RESPONSE_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te', 'proxy-authenticate']);
/** A TE value listing `trailers` (RFC 9110 §10.1.4: a list of codings and `trailers`). */
const TE_TRAILERS = /(?:^|,)[ \t]*trailers[ \t]*(?:,|$)/i;
/** node:http's limit on HTTP/1.1 request headers (--max-http-header-size), also held to HTTP/2 requests. */
const MAX_HEADER_BYTES = 16 * 1024;
/** Response bodies up to this size are sent as a string joined to the head (see onResponseEnd). */
const SMALL_BODY = 1024;
/** Retry and ExternalAuth forwardBody buffer request bodies up to this size; larger ones are streamed, once. */
const BODY_BUFFER_LIMIT = 1 << 20;
/**
 * Gateway answers to gRPC calls: HTTP 200 with this grpc-status (the gRPC HTTP-to-status mapping;
 * 500 is an invalid or missing backend, which GRPCRoute says is UNAVAILABLE; 504 is our timeout).
 */
const GRPC_STATUS: Record<number, string> = {
  400: '13', 401: '16', 403: '7', 404: '12', 421: '14', 429: '14', 431: '8', 500: '14', 502: '14', 503: '14', 504: '4',
};

const kExchange = Symbol('exchange');

export function handleRequest(state: PortState, rt: Runtime, req: Req, res: Res): void {
  const ex = new Exchange(state.current, rt, req, res);
  try {
    ex.route();
  } catch {
    // Nothing a request carries may take the process down: answer it and move on.
    ex.local(500);
  }
}

/**
 * Upgrade requests (WebSocket): routed like any request, answered on the raw socket through a
 * ServerResponse bound to it when no upstream takes the upgrade, piped both ways when one does.
 */
export function handleUpgrade(state: PortState, rt: Runtime, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => socket.end());
  const ex = new Exchange(state.current, rt, req, res);
  ex.upgradeSocket = socket;
  ex.upgradeHead = head;
  try {
    ex.route();
  } catch {
    ex.local(500);
  }
}

/**
 * An HTTP/1.1 client stopped sending its request body (listeners/server.ts finds these in its
 * idle sweep, see clientBodyTimeoutMs): 408 when no response has started, the connection closed
 * either way, and the upstream request aborted, so the backend never takes a truncated body for
 * a complete one and nothing holds the socket or an upstream connection forever.
 */
export function clientBodyTimeout(socket: Socket): void {
  const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (res == null || res.headersSent) return void socket.destroy();
  // Answer, then close: the rest of the body will never be read.
  res.shouldKeepAlive = false;
  answerBodyTimeout(res);
}

/** The same for one HTTP/2 stream (listeners/server.ts decides when): 408, or a reset once answered. */
export function streamBodyTimeout(res: Http2ServerResponse): void {
  if (res.headersSent) {
    const ex = (res as any)[kExchange] as Exchange | undefined;
    if (ex !== undefined && !ex.done) {
      ex.finish(408);
      abortUpstream(ex);
    }
    res.stream.close(http2Constants.NGHTTP2_CANCEL);
    return;
  }
  answerBodyTimeout(res as unknown as ServerResponse);
}

function answerBodyTimeout(res: ServerResponse): void {
  const ex = (res as any)[kExchange] as Exchange | undefined;
  if (ex !== undefined && !ex.done) {
    ex.local(408);
    abortUpstream(ex);
  } else {
    res.writeHead(408, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '20' });
    res.end('408 Request Timeout\n');
  }
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly cfg: PortConfig;
  readonly rt: Runtime;
  readonly req: Req;
  /** Http2ServerResponse offers the same calls; typed as one to keep call sites simple. */
  readonly res: ServerResponse;
  readonly start = performance.now();
  readonly view: RequestView;
  host = '';
  rawHost = '';
  listener?: ListenerRuntime;
  routeRt?: RouteRuntime;
  choice?: BackendChoice;
  endpoint?: EndpointRuntime;
  counter?: RequestCounter;
  upstreamPath = '';
  upstreamHeaders: HeaderBag = {};
  body: Buffer | Readable | null = null;
  /** The body was read before routing to a backend (ExternalAuth forwardBody). */
  bodyRead = false;
  attempt = 0;
  controller?: Dispatcher.DispatchController;
  upstreamStart = 0;
  discard = false;
  done = false;
  /** The current attempt was aborted by backendRequest timeout. */
  timedOut = false;
  requestTimer?: NodeJS.Timeout;
  attemptTimer?: NodeJS.Timeout;
  setSession?: string;
  /** Creation time (ms) of the session the request presented, if still valid. */
  sessionCreated = 0;
  drainHook?: () => void;
  /** Response body bytes still expected by Content-Length (-1: unknown, e.g. chunked). */
  bodyLeft = -1;
  /** The chunk that completes a Content-Length body: sent with end(), head + body in one write. */
  lastChunk: Buffer | undefined = undefined;
  upgradeSocket?: Duplex;
  upgradeHead?: Buffer;
  /** Headers an ExternalAuth service asked to add to the forwarded request. */
  extraRequestHeaders?: HeaderBag;
  /** Headers an ExternalAuth service (gRPC) asked to remove from the forwarded request. */
  removeRequestHeaders?: string[];
  /** GRPCRoute with a valid grpc-timeout: when the call must be over (performance.now() ms); 0: none. */
  grpcDeadline = 0;
  /** The grpc-timeout value last put on the upstream request (refreshed per attempt while a filter did not replace it). */
  sentGrpcTimeout?: string;

  constructor(cfg: PortConfig, rt: Runtime, req: Req, res: Res) {
    this.cfg = cfg;
    this.rt = rt;
    this.req = req;
    this.res = res as ServerResponse;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q < 0 ? url : url.slice(0, q);
    if (path.charCodeAt(0) !== 47) path = absolutePath(path);
    if (needsNormalization(path)) path = normalizePath(path);
    this.view = { method: req.method ?? 'GET', path, rawQuery: q < 0 ? '' : url.slice(q + 1), headers: req.headers };
  }

  /** Listener, virtual host and route selection; then the filters and the upstream. */
  route(): void {
    const req = this.req;
    if (req.httpVersionMajor === 1) {
      const bad = badRequest(req as IncomingMessage);
      if (bad !== 0) {
        // A request pipelined behind a refused one: never served, the connection is closing.
        if (bad < 0) return;
        // Its framing or Host cannot be trusted: answer and close. node:http still hands us the
        // requests pipelined behind it (parsed with that framing): the mark turns them away.
        (req.socket as RefusedSocket)[kRefused] = true;
        this.res.shouldKeepAlive = false;
        return this.local(bad);
      }
    } else if (headerBytes(req.headers) > MAX_HEADER_BYTES) {
      // node:http2 only refuses header blocks over 64 KiB (REFUSED_STREAM): the HTTP/1.1 limit
      // applies to HTTP/2 requests too, with the same answer.
      return this.local(431);
    }
    const h = req.headers;
    this.rawHost = ((req.httpVersionMajor === 2 ? h[':authority'] ?? h.host : h.host) as string | undefined) ?? '';
    this.host = normalizeHost(this.rawHost);
    const cfg = this.cfg;
    const listener = cfg.listeners.lookup(this.host);
    if (cfg.tls !== undefined) {
      const sni = (req.socket as TLSSocket).servername;
      if (typeof sni === 'string' && sni !== '') {
        const bySni = cfg.listeners.lookup(sni.toLowerCase());
        // Host must select the listener the TLS handshake selected, or the request was misdirected.
        if (bySni !== undefined && bySni !== listener) {
          this.listener = bySni;
          this.counter = bySni.noRoute;
          return this.local(421);
        }
      }
    }
    if (listener === undefined) return this.local(404);
    this.listener = listener;
    this.counter = listener.noRoute;
    const vh = listener.vhosts.lookup(this.host);
    if (vh === undefined) return this.local(404);
    const routes = vh.routes;
    const view = this.view;
    for (let i = 0; i < routes.length; i++) {
      if (matches(routes[i].match, view)) return this.run(routes[i]);
    }
    this.local(404);
  }

  run(r: RouteRuntime): void {
    this.routeRt = r;
    this.counter = r.counter;
    let deadlineMs = r.requestMs;
    if (r.grpc) {
      // The client's grpc-timeout is a deadline for the whole call, like timeouts.request: the
      // earlier of the two wins (malformed values are ignored).
      const clientMs = parseGrpcTimeout(this.req.headers['grpc-timeout']);
      if (clientMs !== undefined) {
        if (deadlineMs === 0 || clientMs < deadlineMs) deadlineMs = clientMs;
        this.grpcDeadline = this.start + deadlineMs;
      }
    }
    if (deadlineMs > 0 || this.grpcDeadline !== 0) this.requestTimer = setTimeout(onRequestTimeout, deadlineMs, this);
    this.res.on('close', onClientClose); // `on`, not `once`: once allocates a wrapper per request
    (this.res as any)[kExchange] = this;
    const f = r.filters;
    if (f.any) {
      if (f.directStatus !== undefined) return this.local(f.directStatus);
      if (f.cors !== undefined && this.preflight(f)) return;
      if (f.redirect !== undefined) return this.redirect(f);
    }
    if (r.direct !== undefined) return this.local(r.direct.status, r.direct.body);
    if (f.extAuth !== undefined) {
      const auth = f.extAuth;
      if (auth.forwardBodyMax > 0 && hasBody(this.req)) {
        this.collectBody((body, head) => {
          // forwardBody: a body over maxSize fails the filter (the spec asks for a 4xx).
          if (head.length > auth.forwardBodyMax) return this.local(413);
          this.body = body;
          this.bodyRead = true;
          this.authorize(auth, head);
        });
      } else {
        this.authorize(auth, null);
      }
      return;
    }
    this.pick();
  }

  authorize(auth: ExtAuthRuntime, body: Buffer | null): void {
    externalAuth(this, auth, body).then((ok) => { if (ok && !this.done) this.pick(); }, () => this.local(500));
  }

  /** Backend choice (session persistence first), backend filters, then the upstream request. */
  pick(): void {
    const r = this.routeRt!;
    let choice: BackendChoice | undefined;
    if (r.session !== undefined) {
      const s = r.session;
      const token = s.type === 'Cookie' ? cookieValue(this.req.headers.cookie, s.name) : (this.req.headers[s.name] as string | undefined);
      const now = Date.now();
      const pinned = token ? resolveToken(r, token, now) : undefined;
      // A session whose endpoint is down moves to another one (and gets a new token).
      if (pinned !== undefined && pinned.endpoint.health.downUntil <= now) {
        choice = pinned.choice;
        this.endpoint = pinned.endpoint;
        this.sessionCreated = pinned.created;
      }
    }
    choice ??= chooseBackend(r);
    if (choice === undefined) return this.local(500);
    this.choice = choice;
    this.counter = choice.counter;
    if (choice.backend === undefined) return this.local(choice.invalidStatus);
    const bf = choice.filters;
    if (bf.any) {
      if (bf.directStatus !== undefined) return this.local(bf.directStatus);
      if (bf.redirect !== undefined) return this.redirect(bf);
    }
    this.buildUpstream(r.filters, bf);
    const mirrors = r.filters.mirrors.length > 0 || bf.mirrors.length > 0 ? chooseMirrors(r.filters.mirrors, bf.mirrors) : undefined;
    if (this.bodyRead) {
      // read already (ExternalAuth forwardBody): a Buffer, or a stream when it was too large
      const read = this.body;
      if (read !== null && !(read instanceof Buffer) && mirrors !== undefined && mirrors.length > 0) this.body = teeBody(read as Readable, mirrors);
    } else if (!hasBody(this.req)) {
      this.body = null;
    } else if (r.retry !== undefined) {
      return this.bufferBody(mirrors); // a retried body must be sent again: keep it (up to a limit)
    } else if (mirrors !== undefined && mirrors.length > 0) {
      this.body = teeBody(this.req, mirrors);
    } else {
      this.body = this.req;
    }
    if (mirrors !== undefined) sendMirrors(mirrors, this);
    this.send();
  }

  buildUpstream(rf: CompiledFilters, bf: CompiledFilters): void {
    const src = this.req.headers;
    const out: HeaderBag = {};
    for (const k in src) {
      if (k.charCodeAt(0) === 58 /* : */ || HOP_BY_HOP.has(k)) continue;
      out[k] = src[k];
    }
    const conn = src.connection;
    if (conn !== undefined && conn !== 'keep-alive' && conn !== 'close') dropConnectionNamed(out, conn);
    // TE is hop-by-hop but `trailers` says the client takes trailers, which gRPC backends require.
    const te = src.te;
    if (typeof te === 'string' && (te === 'trailers' || TE_TRAILERS.test(te))) out.te = 'trailers';
    const ip = clientAddress(this.req);
    const xff = out['x-forwarded-for'];
    out['x-forwarded-for'] = xff === undefined ? ip : `${xff}, ${ip}`;
    out['x-forwarded-proto'] = this.listener!.scheme;
    if (out['x-forwarded-host'] === undefined) out['x-forwarded-host'] = this.rawHost;
    out.host = this.rawHost;
    // The backend learns the time left, not the time the client started with (see send()).
    if (this.grpcDeadline !== 0) out['grpc-timeout'] = this.sentGrpcTimeout = encodeGrpcTimeout(this.grpcDeadline - performance.now());
    let path = this.view.path;
    if (rf.any) path = this.requestFilters(rf, out, path);
    if (bf.any) path = this.requestFilters(bf, out, path);
    if (this.extraRequestHeaders !== undefined) Object.assign(out, this.extraRequestHeaders);
    if (this.removeRequestHeaders !== undefined) for (const h of this.removeRequestHeaders) if (h !== 'host') delete out[h];
    this.upstreamPath = this.view.rawQuery === '' ? path : `${path}?${this.view.rawQuery}`;
    this.upstreamHeaders = out;
  }

  /** Header modifiers and URL rewrite of one filter list, on the outgoing request. */
  requestFilters(f: CompiledFilters, out: HeaderBag, path: string): string {
    for (let i = 0; i < f.requestHeaders.length; i++) applyHeaderOps(f.requestHeaders[i], out);
    if (f.rewriteHost !== undefined) out.host = f.rewriteHost;
    return f.rewritePath !== undefined ? rewritePath(f.rewritePath, this.routeRt!.prefix, path) : path;
  }

  /** Reads the request body into memory so that a retry can send it again (see collectBody). */
  bufferBody(mirrors: ChosenMirror[] | undefined): void {
    this.collectBody((body) => {
      this.body = body instanceof Buffer || mirrors === undefined || mirrors.length === 0 ? body : teeBody(body as Readable, mirrors);
      if (mirrors !== undefined) sendMirrors(mirrors, this);
      this.send();
    });
  }

  /**
   * Reads the request body: a Buffer when it fits in BODY_BUFFER_LIMIT, else a stream replaying
   * what was read and then the rest (such a body is sent once, never retried). `head` is what
   * was read into memory.
   */
  collectBody(done: (body: Buffer | Readable, head: Buffer) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = this.req;
    const onData = (c: Buffer) => {
      size += c.length;
      chunks.push(c);
      if (size <= BODY_BUFFER_LIMIT) return;
      req.off('data', onData);
      req.off('end', onEnd);
      const rest = new PassThrough();
      for (const chunk of chunks) rest.write(chunk);
      req.pipe(rest);
      done(rest, Buffer.concat(chunks));
    };
    const onEnd = () => {
      const all = Buffer.concat(chunks);
      done(all, all);
    };
    req.on('data', onData);
    req.once('end', onEnd);
  }

  /** Sends one attempt upstream (mirrors on the first). */
  send(): void {
    if (this.done) return;
    const r = this.routeRt!;
    const backend = this.choice!.backend!;
    if (backend.broken) return this.local(500);
    const ep = this.attempt === 0 && this.endpoint !== undefined ? this.endpoint : nextEndpoint(backend);
    if (ep === undefined) return this.local(503);
    this.endpoint = ep;
    if (r.session !== undefined) {
      this.setSession = sessionToken(backend.id, ep, this.sessionCreated, r.session.idleMs > 0 ? Date.now() : 0);
    }
    this.discard = false;
    this.timedOut = false;
    this.bodyLeft = -1;
    this.lastChunk = undefined;
    this.controller = undefined;
    this.upstreamStart = performance.now();
    if (this.attempt === 0 && backend.retryBudget !== undefined) backend.retryBudget.request(this.upstreamStart);
    if (this.grpcDeadline !== 0 && this.attempt > 0 && this.upstreamHeaders['grpc-timeout'] === this.sentGrpcTimeout) {
      // A retry: what is left of the deadline now (unless a header filter set its own value).
      this.upstreamHeaders['grpc-timeout'] = this.sentGrpcTimeout = encodeGrpcTimeout(this.grpcDeadline - this.upstreamStart);
    }
    if (r.backendRequestMs > 0) this.attemptTimer = setTimeout(onAttemptTimeout, r.backendRequestMs, this);
    const body = this.body;
    if (this.upgradeSocket !== undefined) {
      ep.pool.dispatch(
        { path: this.upstreamPath, method: 'GET', headers: this.upstreamHeaders as Record<string, string>, upgrade: String(this.req.headers.upgrade ?? 'websocket'), servername: backend.sni } as Dispatcher.DispatchOptions,
        this,
      );
      return;
    }
    if (ep.h1 !== undefined) {
      try {
        ep.h1.dispatch({ path: this.upstreamPath, method: this.view.method, headers: this.upstreamHeaders, body }, this as unknown as H1Handler);
      } catch {
        this.local(502);
      }
      return;
    }
    const opts: Dispatcher.DispatchOptions = { path: this.upstreamPath, method: this.view.method as Dispatcher.HttpMethod, headers: this.upstreamHeaders as Record<string, string>, body: body as any };
    if (backend.sni !== undefined) (opts as { servername?: string }).servername = backend.sni;
    try {
      ep.pool.dispatch(opts, this);
    } catch {
      this.local(502);
    }
  }

  // ---- undici DispatchHandler -------------------------------------------------------------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new Error('request finished'));
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, upstream: Duplex): void {
    if (this.attemptTimer !== undefined) { clearTimeout(this.attemptTimer); this.attemptTimer = undefined; }
    if (this.requestTimer !== undefined) { clearTimeout(this.requestTimer); this.requestTimer = undefined; }
    const client = this.upgradeSocket!;
    if (this.done) { upstream.destroy(); return; }
    const out: HeaderBag = {};
    for (const k in headers) if (!RESPONSE_HOP.has(k)) out[k] = headers[k];
    const conn = headers.connection;
    if (conn !== undefined) dropConnectionNamed(out, conn);
    this.decorate(out);
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${headers.upgrade ?? 'websocket'}\r\n`;
    for (const k in out) {
      const v = out[k];
      if (v === undefined) continue;
      for (const one of typeof v === 'string' ? [v] : v) head += `${k}: ${one}\r\n`;
    }
    client.write(head + '\r\n');
    if (this.upgradeHead !== undefined && this.upgradeHead.length > 0) upstream.write(this.upgradeHead);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.pipe(client);
    client.pipe(upstream);
    this.finish(statusCode);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // The backendRequest timer keeps running: it covers the whole response, not just its headers.
    if (this.done) return;
    const r = this.routeRt!;
    if (r.retry !== undefined && this.attempt < r.retry.attempts && r.retry.codes.has(statusCode) && this.canRetry()) {
      this.discard = true;
      if (!this.budgetAllows()) this.local(503); // the retry budget is spent: 503, as the spec says
      return;
    }
    observe(this.choice!.backend!.latency, (performance.now() - this.upstreamStart) / 1000);
    markUp(this.endpoint!.health);
    const out: HeaderBag = {};
    for (const k in headers) if (!RESPONSE_HOP.has(k)) out[k] = headers[k];
    const conn = headers.connection;
    if (conn !== undefined && conn !== 'keep-alive' && conn !== 'close') dropConnectionNamed(out, conn);
    const cl = headers['content-length'];
    this.bodyLeft = typeof cl === 'string' ? contentLength(cl) : -1;
    this.decorate(out);
    try {
      if (this.bodyLeft >= 0 && this.req.httpVersionMajor === 2 && this.endpoint!.h1 !== undefined) this.respondH2(statusCode, out);
      else this.res.writeHead(statusCode, out as any);
    } catch {
      // a header the client side refuses (e.g. invalid for HTTP/2): the answer cannot be relayed
      this.discard = true;
      this.local(502);
    }
  }

  /**
   * An HTTP/2 client's answer from an HTTP/1.1 backend with a Content-Length body, which cannot
   * carry trailers: its headers go out on the stream itself. The compatibility layer's writeHead
   * always asks http2 to wait for trailers, which costs a callback and an empty DATA frame at the
   * end of every response.
   */
  respondH2(status: number, out: HeaderBag): void {
    const res = this.res as unknown as Http2ServerResponse;
    res.statusCode = status;
    out[':status'] = String(status);
    res.stream.respond(out as any, { endStream: false });
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discard || this.done) return;
    if (this.bodyLeft >= 0) {
      this.bodyLeft -= chunk.length;
      // The last chunk of a known-length body waits for onResponseEnd (it comes at once, nothing
      // is left to stream) and goes out with end(): for a small response, status line, headers
      // and body then leave in one socket write without the cork/uncork of write() + end().
      if (this.bodyLeft === 0) {
        this.lastChunk = chunk;
        return;
      }
    }
    if (!(this.res as ServerResponse).write(chunk)) {
      c.pause();
      this.drainHook ??= () => this.controller?.resume();
      this.res.once('drain', this.drainHook);
    }
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.attemptTimer !== undefined) { clearTimeout(this.attemptTimer); this.attemptTimer = undefined; }
    if (this.done) return;
    if (this.discard) return this.retryLater();
    if (trailers && this.req.httpVersionMajor === 2) {
      let any = false;
      for (const _k in trailers) { any = true; break; }
      if (any) {
        try {
          this.res.addTrailers(trailers as any);
        } catch {
          // trailers the client side refuses are dropped; the body is complete
        }
      }
    }
    const last = this.lastChunk;
    if (last !== undefined) {
      this.lastChunk = undefined;
      // A small body as a Latin-1 string (byte for byte the same bytes): node:http then joins it
      // to the head in one string and one plain write, instead of a writev of head and buffer.
      if (last.length <= SMALL_BODY && this.req.httpVersionMajor !== 2) this.res.end(last.toString('latin1'), 'latin1');
      else this.res.end(last);
    } else {
      this.res.end();
    }
    this.finish(this.res.statusCode);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.attemptTimer !== undefined) { clearTimeout(this.attemptTimer); this.attemptTimer = undefined; }
    if (this.done) return;
    if (this.res.headersSent) {
      if (this.endGrpcStream(this.timedOut ? 504 : 502)) return;
      this.finish(this.res.statusCode);
      this.res.destroy();
      return;
    }
    const timedOut = this.timedOut;
    if (isConnectFailure(err)) markDown(this.endpoint!.health, Date.now());
    const r = this.routeRt!;
    if (r.retry === undefined) return this.local(timedOut ? 504 : upstreamErrorStatus(err));
    // With a retry stanza, an attempt that got no answer is retried whatever `codes` lists: a
    // connection refused, reset or closed before a response, an unreadable response, and an
    // attempt past timeouts.backendRequest (HTTPRouteRetry: "SHOULD retry on connection errors
    // (disconnect, reset, timeout, TCP failure)"; upstream's HTTPRouteRetryWithTimeouts retries
    // timeouts with no codes). A request Portico could not write will fail the same way again.
    if (this.attempt < r.retry.attempts && this.canRetry() && (err as { code?: string }).code !== 'UND_ERR_INVALID_ARG') {
      return this.budgetAllows() ? this.retryLater() : this.local(503);
    }
    // Given up: the backend stayed unreachable, 503 (upstream's HTTPRouteRetryConnectionError
    // accepts 500 or 503), or 504 when the last attempt ran out of time.
    const status = timedOut ? 504 : upstreamErrorStatus(err);
    this.local(status === 502 ? 503 : status);
  }

  /** A streamed request body cannot be sent twice. */
  canRetry(): boolean {
    return this.body === null || this.body instanceof Buffer;
  }

  /** The Service's XBackendTrafficPolicy retry budget, if any, allows one more retry now (upstream/retry-budget.ts). */
  budgetAllows(): boolean {
    const budget = this.choice!.backend!.retryBudget;
    return budget === undefined || budget.tryRetry(performance.now());
  }

  retryLater(): void {
    this.attempt++;
    // `backoff` doubling per retry, capped at ten times it (as Envoy): never less than `backoff`,
    // which is all the spec asks, and a long retry chain does not wait minutes between attempts.
    const base = this.routeRt!.retry?.backoffMs ?? 0;
    const wait = Math.min(base * 2 ** (this.attempt - 1), base * 10);
    if (wait > 0) setTimeout(retryNow, wait, this);
    else setImmediate(retryNow, this);
  }

  // ---- answers made here ---------------------------------------------------------------

  /** Response header filters, CORS, session cookie and debug header, applied to any response. */
  decorate(out: HeaderBag): void {
    const r = this.routeRt;
    if (r === undefined) return;
    if (r.filters.any) this.responseFilters(r.filters, out);
    const bf = this.choice?.filters;
    if (bf !== undefined && bf.any) this.responseFilters(bf, out);
    if (this.setSession !== undefined) {
      const s = r.session!;
      if (s.type === 'Cookie') {
        if (cookieValue(this.req.headers.cookie, s.name) !== this.setSession) {
          const prev = out['set-cookie'];
          const cookie = `${s.name}=${this.setSession}${s.cookieSuffix}`;
          out['set-cookie'] = prev === undefined ? cookie : [...(typeof prev === 'string' ? [prev] : prev), cookie];
        }
      } else {
        out[s.name] = this.setSession;
      }
    }
    if (this.rt.debugHeaders) out['x-portico-route'] = r.label;
  }

  responseFilters(f: CompiledFilters, out: HeaderBag): void {
    for (let i = 0; i < f.responseHeaders.length; i++) applyHeaderOps(f.responseHeaders[i], out);
    if (f.cors !== undefined) {
      const origin = this.req.headers.origin;
      if (typeof origin === 'string' && originAllowed(f.cors, origin)) addActualHeaders(f.cors, origin, out);
    }
  }

  preflight(f: CompiledFilters): boolean {
    const h = this.req.headers;
    const origin = h.origin;
    if (this.view.method !== 'OPTIONS' || typeof origin !== 'string' || h['access-control-request-method'] === undefined) return false;
    const cors = f.cors!;
    if (!originAllowed(cors, origin)) {
      this.local(200);
      return true;
    }
    const out = preflightHeaders(cors, origin, String(h['access-control-request-method']), h['access-control-request-headers'] as string | undefined);
    if (this.rt.debugHeaders) out['x-portico-route'] = this.routeRt!.label;
    out['content-length'] = '0';
    this.res.writeHead(200, out as any);
    this.res.end();
    this.finish(200);
    return true;
  }

  redirect(f: CompiledFilters): void {
    const l = this.listener!;
    const location = redirectLocation(f.redirect!, l.scheme, l.port, this.host, this.routeRt!.prefix, this.view.path, this.view.rawQuery);
    this.local(f.redirect!.statusCode, undefined, location);
  }

  local(status: number, body?: string, location?: string): void {
    const out: HeaderBag = {};
    if (location !== undefined) out.location = location;
    this.localWithHeaders(status, out, body);
  }

  localWithHeaders(status: number, out: HeaderBag, body?: string): void {
    if (this.done) return;
    const res = this.res;
    if (res.headersSent) {
      if (this.endGrpcStream(status)) return;
      this.finish(res.statusCode);
      res.destroy();
      return;
    }
    const grpc = this.routeRt?.grpc === true || isGrpc(this.req);
    if (grpc && status >= 400) {
      out['content-type'] = 'application/grpc';
      out['grpc-status'] = GRPC_STATUS[status] ?? '2';
      out['grpc-message'] = `portico: ${status}`;
      this.decorate(out);
      const stream = (res as unknown as Http2ServerResponse).stream as Http2ServerResponse['stream'] | undefined;
      if (this.req.httpVersionMajor === 2 && stream !== undefined && !stream.headersSent) {
        // Trailers-Only: one HEADERS frame that ends the stream. gRPC clients read a status in
        // headers followed by an empty DATA frame as a call that ended without status.
        delete out['content-length'];
        try {
          stream.respond({ ':status': 200, ...out } as any, { endStream: true });
        } catch {
          stream.close();
        }
      } else {
        res.writeHead(200, out as any);
        res.end();
      }
      this.finish(status);
      return;
    }
    const text = body ?? (status >= 400 ? `${status} ${STATUS_TEXT[status] ?? 'Error'}\n` : '');
    out['content-type'] ??= 'text/plain; charset=utf-8';
    out['content-length'] = String(Buffer.byteLength(text));
    this.decorate(out);
    res.writeHead(status, out as any);
    res.end(text);
    this.finish(status);
  }

  /**
   * A gRPC call whose response had started when the gateway gave up on it (timeout, backend
   * reset): over HTTP/2 it ends with trailers carrying the status, as a gRPC server would, instead
   * of a stream reset the client can only report as INTERNAL or CANCELLED.
   */
  endGrpcStream(status: number): boolean {
    const res = this.res;
    if (this.req.httpVersionMajor !== 2 || res.writableEnded || !(this.routeRt?.grpc === true || isGrpc(this.req))) return false;
    try {
      res.addTrailers({ 'grpc-status': GRPC_STATUS[status] ?? '2', 'grpc-message': `portico: ${status}` });
      res.end();
    } catch {
      return false;
    }
    this.finish(status);
    return true;
  }

  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    if (this.requestTimer !== undefined) clearTimeout(this.requestTimer);
    if (this.attemptTimer !== undefined) clearTimeout(this.attemptTimer);
    const seconds = (performance.now() - this.start) / 1000;
    const c = this.counter;
    if (c !== undefined) c.counts[(status / 100) | 0]++;
    if (this.listener !== undefined) observe(this.listener.latency, seconds);
    if (this.rt.accessLog) this.log(status, seconds);
  }

  log(status: number, seconds: number): void {
    const line = {
      time: new Date().toISOString(),
      gateway: this.listener?.gateway ?? '',
      listener: this.listener?.name ?? '',
      route: this.routeRt?.routeName ?? '',
      rule: this.routeRt?.rule ?? '',
      backend: this.choice?.name ?? '',
      endpoint: this.endpoint?.hostPort ?? '',
      method: this.view.method,
      host: this.host,
      path: this.view.path,
      status,
      durationMs: Math.round(seconds * 1e6) / 1000,
    };
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

function onRequestTimeout(ex: Exchange): void {
  ex.requestTimer = undefined;
  if (ex.done) return;
  ex.local(504); // first: the abort below reports an upstream error synchronously
  abortUpstream(ex);
}

function onAttemptTimeout(ex: Exchange): void {
  ex.attemptTimer = undefined;
  if (ex.done) return;
  ex.timedOut = true;
  if (ex.controller !== undefined) ex.controller.abort(new Error('backend request timeout'));
  else ex.local(504);
}

function abortUpstream(ex: Exchange): void {
  if (ex.controller !== undefined && !ex.controller.aborted) ex.controller.abort(new Error('request finished'));
}

function onClientClose(this: Res): void {
  const ex = (this as any)[kExchange] as Exchange | undefined;
  if (ex === undefined || ex.done) return;
  // The client went away before the response ended: stop the upstream request too.
  ex.finish(499);
  abortUpstream(ex);
}

function retryNow(ex: Exchange): void {
  ex.send();
}

const kRefused = Symbol('refused');
type RefusedSocket = Socket & { [kRefused]?: boolean };

/** A Transfer-Encoding list whose last coding is chunked. */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;

/** Characters a Host header may hold (RFC 9110 §7.2: uri-host [":" port]; IP literals in brackets). */
const INVALID_HOST = /[^A-Za-z0-9\-._~!$&'()*+,;=%:[\]]/;

/**
 * HTTP/1 requests node:http's parser lets through but a proxy must refuse (0: none of these),
 * since the backend could read them differently than we did:
 * - Transfer-Encoding whose final coding is not chunked (`xchunked`, `identity`): 400, as RFC 9112
 *   §6.3 requires (the body length cannot be known). Other codings before chunked (`gzip,
 *   chunked`): 501, as §6.1 says for codings a server does not implement; we re-frame bodies and
 *   would drop the coding. (`chunked, identity`, CL with TE and the like never get here: llhttp
 *   refuses them while parsing the headers.)
 * - Transfer-Encoding in an HTTP/1.0 request: faulty framing (RFC 9112 §6.1), 400.
 * - No Host in HTTP/1.1, more than one Host line, or a Host value that is not a host[:port]: 400
 *   (RFC 9112 §3.2). Checked here rather than by node:http's requireHostHeader, which HTTPS
 *   (the http2 server's HTTP/1.1 side) does not apply and which serves requests pipelined behind.
 *   node:http keeps only the first Host line, so duplicates are counted in rawHeaders.
 * -1: the connection already had a request refused (see route()).
 */
function badRequest(req: IncomingMessage): number {
  if ((req.socket as RefusedSocket)[kRefused] === true) return -1;
  const h = req.headers;
  const te = h['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMinor === 0) return 400;
    if (te.length !== 7 || te.toLowerCase() !== 'chunked') return CHUNKED_LAST.test(te) ? 501 : 400;
  }
  const host = h.host;
  if (host === undefined) {
    if (req.httpVersionMinor !== 0) return 400;
  } else if (INVALID_HOST.test(host)) {
    return 400;
  }
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host') && ++hosts > 1) return 400;
  }
  return 0;
}

/**
 * Removes the headers a Connection header names (RFC 9110 §7.6.1): they were meant for the hop
 * that carried them. Headers Portico sets afterwards (X-Forwarded-*, Host) cannot be removed so.
 */
function dropConnectionNamed(out: HeaderBag, conn: string | string[]): void {
  for (const line of typeof conn === 'string' ? [conn] : conn) {
    for (const t of line.split(',')) {
      const name = t.trim().toLowerCase();
      if (name !== '') delete out[name];
    }
  }
}

/** Size of a request's header fields as HTTP/1.1 would carry them ("name: value\r\n"), pseudo-headers included. */
function headerBytes(h: IncomingHttpHeaders): number {
  let n = 0;
  for (const k in h) {
    const v = h[k];
    if (typeof v === 'string') n += k.length + v.length + 4;
    else if (v !== undefined) for (const item of v) n += k.length + item.length + 4;
  }
  return n;
}

function hasBody(req: Req): boolean {
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

/** A Content-Length value as a number, -1 when it is not a plain decimal. */
function contentLength(v: string): number {
  const n = v.length > 0 && v.length < 16 ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 ? n : -1;
}

function isGrpc(req: Req): boolean {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}

export function clientAddress(req: Req): string {
  const s = req.socket as any;
  return s?.remoteAddress ?? s?.stream?.remoteAddress ?? '';
}

function absolutePath(target: string): string {
  // Absolute-form request targets (proxy style): keep only the path.
  if (target === '*') return '*';
  try {
    return new URL(target).pathname;
  } catch {
    return target;
  }
}

/** The endpoint could not be reached at all (as opposed to failing a request). */
function isConnectFailure(err: Error): boolean {
  const code = (err as any).code as string | undefined;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND';
}

function upstreamErrorStatus(err: Error): number {
  const code = (err as any).code as string | undefined;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 504;
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND') return 503;
  return 502;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 413: 'Payload Too Large', 421: 'Misdirected Request', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
