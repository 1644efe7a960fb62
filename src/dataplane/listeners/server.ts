// One listening socket per address:port. HTTP ports accept HTTP/1.1 and HTTP/2 cleartext with
// prior knowledge (the first bytes tell them apart); HTTPS ports terminate TLS with the
// certificate chosen by SNI among the port's listeners and offer h2 and http/1.1 by ALPN.
// The server outlives generations: requests read `state.current` when they start.
import { createRequire } from 'node:module';
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { clientBodyTimeout, streamBodyTimeout, handleRequest, handleUpgrade, type PortState, type Runtime } from '../handler.ts';
import type { PortConfig } from '../model.ts';
import { VersionDispatch, type VersionRange } from './tls-versions.ts';

/** node:http's own header-deadline bookkeeping (exported by its server module for https). */
const { setupConnectionsTracking } = createRequire(import.meta.url)('_http_server') as { setupConnectionsTracking: (this: http.Server) => void };

const H2_PREFACE = 'PRI * HTTP/2.0';
/** One client connection may not hold more than this many streams open at once. */
const H2_SETTINGS: http2.Settings = { enableConnectProtocol: false, maxConcurrentStreams: 1000 };

/** EADDRINUSE retries when binding a port (see PortServer.listen), 100 ms apart: about 2 s in all. */
const BIND_RETRIES = 20;
const BIND_RETRY_MS = 100;

export class PortServer implements PortState {
  current: PortConfig;
  readonly protocol: 'HTTP' | 'HTTPS';
  /** Protocol plus server-level TLS settings: a change of kind needs a new server. */
  readonly kind: string;
  private readonly rt: Runtime;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private front!: net.Server;
  private h1?: http.Server;
  private readonly idle: IdleTimers;
  /** HTTPS ports where listeners set TLS version ranges: one TLS server per range (tls-versions.ts). */
  private versions?: VersionDispatch<http2.Http2SecureServer>;

  /**
   * The port also carries TLS listeners: the l4 TLS server binds it, reads the SNI and hands
   * HTTPS connections to accept(); this server never listens itself.
   */
  readonly shared: boolean;

  constructor(cfg: PortConfig, rt: Runtime) {
    this.current = cfg;
    this.protocol = cfg.protocol;
    this.kind = portKind(cfg);
    this.shared = cfg.sharedWithTls === true;
    this.rt = rt;
    this.idle = new IdleTimers(rt.clientBodyTimeoutMs, rt.clientHeaderTimeoutMs);
    const onRequest = (req: any, res: any) => handleRequest(this, rt, req, res);
    const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => handleUpgrade(this, rt, req, socket, head);
    if (cfg.protocol === 'HTTPS') {
      // HTTP/1.1 over TLS gets the cleartext listeners' deadlines (see below); the http2 types
      // do not list these options, which its HTTP/1.1 fallback honours.
      const h1Deadlines = headerDeadlines(rt.clientHeaderTimeoutMs);
      const secureServer = (range: VersionRange) => {
        const pem = this.current.tls?.fallbackPem;
        const server = http2.createSecureServer({
          ...h1Deadlines,
          allowHTTP1: true,
          cert: pem?.cert,
          key: pem?.key,
          ca: pem?.ca,
          SNICallback: (name, cb) => cb(null, this.contextFor(name)),
          settings: H2_SETTINGS,
          // Client certificates are checked per listener below, so the handshake itself never fails on them.
          requestCert: cfg.mtls,
          rejectUnauthorized: false,
          ...(range.min !== undefined ? { minVersion: range.min } : {}),
          ...(range.max !== undefined ? { maxVersion: range.max } : {}),
        }, onRequest);
        server.on('secureConnection', (sock: TLSSocket) => {
          if (this.current.checkConnections === true) this.checkConnection(sock);
          // HTTP/1.1 over TLS: the sweep watches for stalled request bodies (h2 streams are not sockets).
          if (sock.alpnProtocol !== 'h2' && !sock.destroyed) this.idle.watchBody(sock);
        });
        server.on('upgrade', onUpgrade);
        server.on('session', (s) => this.track(s));
        return server;
      };
      if (cfg.tlsVersions === true) {
        this.versions = new VersionDispatch((range) => {
          const server = secureServer(range);
          // It never listens: start node:http's header-deadline checks for its HTTP/1.1 side here.
          setupConnectionsTracking.call(server as unknown as http.Server);
          return server;
        }, (name) => this.rangeFor(name), rt.clientHeaderTimeoutMs);
        this.front = net.createServer((sock) => this.versions!.accept(sock));
      } else {
        this.front = secureServer({});
      }
    } else {
      const h1 = http.createServer({
        ...headerDeadlines(rt.clientHeaderTimeoutMs),
        // "Upgrade: h2c" from an HTTP/1.1 client is declined (answered over HTTP/1.1); others are proxied.
        shouldUpgradeCallback: (req) => String(req.headers.upgrade).toLowerCase() !== 'h2c',
      }, onRequest);
      h1.on('upgrade', onUpgrade);
      // A client that half-closes after its request still gets its answer. node:http's default
      // (httpAllowHalfOpen false) aborts the requests in flight when the client's FIN arrives, so
      // an answer slower than the FIN was lost; with it, node:http ends the socket once the
      // responses are out. RFC 9112 §9.6 lets a client half-close; HAProxy answers it too.
      (h1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
      // h1 never listens (connections reach it through sniff()), and node:http starts checking
      // header deadlines only in listen(): start it here, or slow clients are never cut.
      setupConnectionsTracking.call(h1);
      const h2 = http2.createServer({ settings: H2_SETTINGS }, onRequest);
      h2.on('session', (s) => this.track(s));
      this.h1 = h1;
      // As node:http's own servers: a client may half-close after its request and still gets its
      // answer (node:http ends the socket once the responses are out), and small writes (a
      // response head, a streamed chunk) leave at once instead of waiting for Nagle's algorithm.
      this.front = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) => sniff(sock, h1, h2, rt.clientHeaderTimeoutMs, this.idle));
    }
    this.front.on('connection', (sock: net.Socket) => {
      this.sockets.add(sock);
      rt.metrics.activeConnections++;
      sock.once('close', () => {
        this.sockets.delete(sock);
        rt.metrics.activeConnections--;
      });
    });
  }

  /** Swaps in the configuration of a new generation. */
  update(cfg: PortConfig): void {
    this.current = cfg;
    const pem = cfg.tls?.fallbackPem;
    if (this.protocol === 'HTTPS' && pem !== undefined) {
      const servers = this.versions !== undefined ? [...this.versions.servers()] : [this.front as http2.Http2SecureServer];
      for (const s of servers) {
        try { s.setSecureContext({ cert: pem.cert, key: pem.key, ca: pem.ca }); } catch { /* keep the previous default */ }
      }
    }
  }

  /**
   * Binds the port. EADDRINUSE is retried for a while: an address:port a removed Gateway just
   * released (the address pool hands the freed address straight to the next Gateway) can still be
   * held by the closing server, or by the cluster primary until every worker let go of it.
   */
  async listen(retries = BIND_RETRIES): Promise<void> {
    if (this.shared) return;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.listenOnce();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= retries) throw err;
        await new Promise((r) => setTimeout(r, BIND_RETRY_MS));
      }
    }
  }

  private listenOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.front.once('error', onError);
      this.front.listen({ host: this.current.address, port: this.current.port, exclusive: false }, () => {
        this.front.off('error', onError);
        this.front.on('error', () => {});
        resolve();
      });
    });
  }

  /** Null when the port is shared with TLS listeners (the l4 server holds the socket). */
  address(): net.AddressInfo | null {
    return this.front.address() as net.AddressInfo | null;
  }

  /** A connection accepted elsewhere (shared port), with any bytes already read pushed back into it. */
  accept(socket: net.Socket): void {
    this.front.emit('connection', socket);
  }

  /** Stops accepting; idle connections close now, busy ones when their requests end (or after `graceMs`). */
  close(graceMs = 5_000): Promise<void> {
    return new Promise((resolve) => {
      this.front.close(() => resolve());
      // h1 never listened: close() only closes its idle connections and stops its deadline timer.
      this.h1?.close(() => undefined);
      this.idle.close();
      if (this.versions !== undefined) for (const s of this.versions.servers()) s.close(() => undefined);
      for (const s of this.sessions) s.close();
      if (graceMs <= 0) {
        for (const s of this.sockets) s.destroy();
      } else {
        const t = setTimeout(() => { for (const s of this.sockets) s.destroy(); }, graceMs);
        t.unref();
      }
      if (this.sockets.size === 0) resolve();
    });
  }

  /**
   * After the handshake, by the listener SNI selected: AllowValidOnly refuses connections without
   * a valid client certificate; a minimum TLS version (tls.options) refuses older ones. The
   * handshake already enforces the version (tls-versions.ts); this is the second line, should a
   * connection ever reach a server of another range.
   */
  private checkConnection(sock: TLSSocket): void {
    const name = (sock as TLSSocket & { servername?: string | false }).servername;
    const l = this.current.listeners.lookup(typeof name === 'string' ? name.toLowerCase() : '');
    if (l === undefined) return;
    if (l.clientValidation === 'AllowValidOnly' && !sock.authorized) return void sock.destroy();
    if (l.minTlsVersion !== undefined && (sock.getProtocol() ?? '') < l.minTlsVersion) sock.destroy();
  }

  /** The TLS version range of the listener a servername selects (tls-versions.ts). */
  private rangeFor(servername: string): VersionRange {
    const l = this.current.listeners.lookup(servername);
    return l === undefined ? {} : { min: l.minTlsVersion as VersionRange['min'], max: l.maxTlsVersion as VersionRange['max'] };
  }

  private track(s: http2.ServerHttp2Session): void {
    this.sessions.add(s);
    this.idle.watchSession(s);
    s.once('close', () => this.sessions.delete(s));
    s.on('error', () => {});
  }

  /** SNI: exact listener hostname, then the longest wildcard, then the listener without hostname. */
  private contextFor(servername: string): SecureContext | undefined {
    const tls = this.current.tls;
    if (tls === undefined) return undefined;
    const name = servername.toLowerCase();
    const entry = tls.byHost.lookup(name);
    if (entry === undefined) return tls.fallback;
    for (const c of entry.certs) if (c.x509 !== undefined && c.x509.checkHost(name) !== undefined) return c.ctx;
    return entry.certs[0].ctx;
  }
}

export function portKind(cfg: PortConfig): string {
  return `${cfg.protocol}${cfg.mtls ? '+mtls' : ''}${cfg.sharedWithTls === true ? '+shared' : ''}${cfg.tlsVersions === true ? '+versions' : ''}`;
}

/**
 * HTTP/1.1 deadlines: the whole-request deadline is off (long uploads and streams are legitimate;
 * routes carry their own timeouts; a stalled body is IdleTimers' business), but headers must
 * arrive within `headersMs`. Node checks the deadline every connectionsCheckingInterval (30 s by
 * default), so that follows a short deadline. Also node:http's Host check is off: handler.ts
 * badRequest() refuses HTTP/1.1 without Host itself, and with it the requests pipelined behind
 * (node answers 400 but still serves those).
 */
function headerDeadlines(headersMs: number): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number; requireHostHeader: boolean } {
  return {
    requestTimeout: 0,
    headersTimeout: headersMs,
    connectionsCheckingInterval: Math.min(30_000, Math.max(10, Math.floor(headersMs / 4))),
    requireHostHeader: false,
  };
}

/**
 * Routes a cleartext connection to the HTTP/1 or the h2c server by its first bytes, then steps
 * out of the way: the bytes read are pushed back into the socket and the native socket itself
 * goes to the chosen server. node:http then consumes the socket handle with its native parser and
 * http2 feeds what is buffered to its session before consuming the handle, so neither protocol
 * runs through a JavaScript stream wrapper after the first read.
 */
function sniff(sock: net.Socket, h1: http.Server, h2: http2.Http2Server, silentMs: number, idle: IdleTimers): void {
  let seen: Buffer | undefined;
  // A connection that never says anything is closed like one that never finishes its headers.
  // A plain timer, not socket.setTimeout: that one would stay attached to the socket and be
  // refreshed on every read and write for the connection's whole life.
  const silent = setTimeout(() => sock.destroy(), silentMs);
  const onData = (chunk: Buffer) => {
    seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isH2 = seen.toString('latin1', 0, n) === H2_PREFACE.slice(0, n);
    if (isH2 && seen.length < H2_PREFACE.length) return; // need more bytes to decide
    sock.off('data', onData);
    sock.off('end', onEnd);
    clearTimeout(silent);
    sock.pause();
    sock.unshift(seen);
    if (isH2) {
      // http2 leaves a half-closed socket to net, which ends it (its own servers are not half-open).
      sock.allowHalfOpen = false;
      h2.emit('connection', sock);
    } else {
      idle.track(sock);
      h1.emit('connection', sock);
      sock.resume();
    }
  };
  // Closed before it said enough to tell: nothing to answer.
  const onEnd = () => { clearTimeout(silent); sock.destroy(); };
  sock.on('data', onData);
  sock.once('end', onEnd);
  sock.on('error', () => {});
  sock.once('close', () => clearTimeout(silent));
}

/** How often IdleTimers looks for sockets whose idle deadline passed. */
const IDLE_SWEEP_MS = 1_000;
const kIdleAt = Symbol('idleAt');
const kIdleMs = Symbol('idleMs');
const kIdleRead = Symbol('idleRead');
const kBodyRead = Symbol('bodyRead');
const kBodySince = Symbol('bodySince');

/**
 * An HTTP/2 session as the sweep sees it: bytes read and written when it was last seen to move
 * and since when (kBodyRead, kIdleRead, kBodySince), and since when it has had no stream open
 * (kIdleAt, 0: it has some).
 */
type IdleSession = http2.ServerHttp2Session & { [kBodyRead]: number; [kIdleRead]: number; [kBodySince]: number; [kIdleAt]: number };
type OpenStreams = { size: number; values(): Iterable<http2.ServerHttp2Stream> };

/** node:http2's private per-session state (its `streams` map holds the open streams) and a stream's compat response. */
let kSessionState: symbol | null | undefined;
let kStreamResponse: symbol | null | undefined;

/** Open streams of an HTTP/2 session, undefined when node's internals are not as expected. */
function streamsOf(s: http2.ServerHttp2Session): OpenStreams | undefined {
  if (kSessionState === undefined) kSessionState = Object.getOwnPropertySymbols(s).find((k) => k.description === 'state') ?? null;
  const streams = kSessionState === null ? undefined : (s as unknown as Record<symbol, { streams?: OpenStreams } | undefined>)[kSessionState]?.streams;
  // Not `instanceof Map`: node's internals use their own (primordial) Map.
  return typeof streams?.size === 'number' && typeof streams.values === 'function' ? streams : undefined;
}

/** The compat-layer response of a stream (what handler.ts answers on), if node made one. */
function responseOf(stream: http2.ServerHttp2Stream): http2.Http2ServerResponse | undefined {
  if (kStreamResponse === undefined) kStreamResponse = Object.getOwnPropertySymbols(stream).find((k) => k.description === 'response') ?? null;
  return kStreamResponse === null ? undefined : (stream as unknown as Record<symbol, http2.Http2ServerResponse | undefined>)[kStreamResponse];
}

/** A stream whose request body the client has not finished, and not because we stopped reading it. */
function bodyPending(stream: http2.ServerHttp2Stream): boolean {
  if (stream.destroyed || stream.readableLength > 0 || stream.isPaused()) return false;
  const state = stream.state as { remoteClose?: number } | undefined;
  return state !== undefined && state.remoteClose === 0;
}

type IdleSocket = net.Socket & {
  [kIdleAt]: number; [kIdleMs]: number; [kIdleRead]: number;
  /** bytesRead when the request body was last seen to move, and since when (0: not watching). */
  [kBodyRead]: number; [kBodySince]: number;
  /** node:http's parser of the connection; `incoming` is the request being read. */
  parser?: { incoming: http.IncomingMessage | null } | null;
};

/** Date.now() as of the last sweep (or the last socket tracked): deadlines need no finer clock. */
let idleNow = Date.now();

/**
 * Keep-alive idle deadlines of HTTP/1.1 sockets without a timer per request. node:http re-arms a
 * socket's idle timer twice per request (socket.setTimeout(keepAliveTimeout + 1 s) when a
 * response finishes, setTimeout(0) when the next request's headers are in), each time a new
 * Timeout, a bound closure and timer-list work, and refreshes it on every read: ~3 % of the
 * proxy's CPU. Tracked sockets get a setTimeout that only records the deadline; a sweep per port,
 * once a second, emits 'timeout' on sockets whose deadline passed without a byte read since the
 * first sweep after it was set (bytes read move the deadline on, as node's refresh does).
 * node:http's own 'timeout' listener then closes the socket exactly as before, up to two seconds
 * later than node's own timer would.
 *
 * The same sweep enforces the client body timeout (clientBodyTimeoutMs), on these sockets and on
 * HTTP/1.1-over-TLS ones (watchBody): a socket whose current request's body is incomplete, whose
 * reading we have not paused (backpressure is not the client's doing), and whose bytesRead has not
 * moved for that long is handed to handler.ts clientBodyTimeout (408, close, upstream aborted).
 * Nothing is done per request: the sweep reads node:http's parser state.
 */
class IdleTimers {
  private readonly sockets = new Set<IdleSocket>();
  /** Sockets watched for stalled bodies only (TLS: their keep-alive timers stay node's own). */
  private readonly bodyOnly = new Set<IdleSocket>();
  /** HTTP/2 sessions: closed when idle, streams cut when their bodies stall (see watchSession). */
  private readonly sessions = new Set<IdleSession>();
  private timer: NodeJS.Timeout | undefined;
  private readonly bodyMs: number;
  private readonly sessionIdleMs: number;
  private readonly sweepMs: number;

  constructor(bodyMs: number, sessionIdleMs: number) {
    this.bodyMs = bodyMs;
    this.sessionIdleMs = sessionIdleMs;
    // A short timeout (tests) is checked often enough to be kept within a quarter of it.
    const shortest = Math.min(bodyMs > 0 ? bodyMs : Infinity, sessionIdleMs > 0 ? sessionIdleMs : Infinity);
    this.sweepMs = Math.min(IDLE_SWEEP_MS, Math.max(50, Math.floor(shortest / 4)));
  }

  track(sock: net.Socket): void {
    const s = sock as IdleSocket;
    s[kIdleAt] = 0;
    s[kIdleMs] = 0;
    s[kIdleRead] = 0;
    s[kBodySince] = 0;
    s.setTimeout = recordTimeout;
    this.sockets.add(s);
    idleNow = Date.now();
    s.once('close', () => this.sockets.delete(s));
    this.start();
  }

  /** Watches a socket for stalled request bodies only. */
  watchBody(sock: net.Socket): void {
    if (this.bodyMs <= 0) return;
    const s = sock as IdleSocket;
    s[kBodySince] = 0;
    this.bodyOnly.add(s);
    s.once('close', () => this.bodyOnly.delete(s));
    this.start();
  }

  /**
   * An HTTP/2 connection with no stream open is waiting for the client's next request, as an
   * idle HTTP/1.1 keep-alive connection is, which node:http closes; node:http2 never closes one.
   * A session without open streams whose socket reads nothing (frames, PINGs included) for the
   * client header deadline gets a GOAWAY (session.close()), like a new connection that never
   * speaks.
   *
   * Stalled request bodies: when nothing at all has moved on the session, in either direction,
   * for clientBodyTimeoutMs, each stream whose request body the client has not finished (and
   * that we are not holding back) is answered 408 (reset if its response started) and its
   * upstream request aborted. Session-wide rather than per stream (node counts no bytes per
   * stream): one busy stream shields the others. Both directions count so that a gRPC stream
   * the server is still sending on is left alone (as Envoy's stream idle timeout).
   */
  watchSession(session: http2.ServerHttp2Session): void {
    if (this.sessionIdleMs <= 0 && this.bodyMs <= 0) return;
    const s = session as IdleSession;
    s[kBodySince] = 0;
    s[kIdleAt] = 0;
    this.sessions.add(s);
    s.once('close', () => this.sessions.delete(s));
    this.start();
  }

  private start(): void {
    this.timer ??= setInterval(() => this.sweep(), this.sweepMs).unref();
  }

  sweep(): void {
    const now = idleNow = Date.now();
    const bodyMs = this.bodyMs;
    for (const s of this.sockets) {
      if (bodyMs > 0 && this.bodyStalled(s, now)) continue;
      const at = s[kIdleAt];
      if (at === 0) continue;
      if (s[kIdleRead] < 0) s[kIdleRead] = s.bytesRead; // armed since the last sweep: the baseline
      if (at > now) continue;
      const read = s.bytesRead;
      if (read !== s[kIdleRead]) {
        s[kIdleRead] = read;
        s[kIdleAt] = now + s[kIdleMs];
        continue;
      }
      s[kIdleAt] = 0;
      s.emit('timeout');
    }
    if (bodyMs > 0) for (const s of this.bodyOnly) this.bodyStalled(s, now);
    for (const s of this.sessions) this.sessionIdle(s, now);
  }

  private sessionIdle(s: IdleSession, now: number): void {
    if (s.closed || s.destroyed) return;
    const streams = streamsOf(s);
    if (streams === undefined) return;
    const sock = s.socket as net.Socket | undefined;
    const read = sock?.bytesRead ?? 0;
    const written = sock?.bytesWritten ?? 0;
    if (streams.size > 0) s[kIdleAt] = 0;
    else if (s[kIdleAt] === 0) s[kIdleAt] = now;
    if (s[kBodySince] === 0 || read !== s[kBodyRead] || written !== s[kIdleRead]) {
      s[kBodyRead] = read;
      s[kIdleRead] = written;
      s[kBodySince] = now;
      return;
    }
    if (streams.size === 0) {
      // Idle since the later of its last stream and its last byte either way.
      if (this.sessionIdleMs > 0 && now - Math.max(s[kIdleAt], s[kBodySince]) >= this.sessionIdleMs) s.close();
      return;
    }
    if (this.bodyMs <= 0 || now - s[kBodySince] < this.bodyMs) return;
    for (const stream of [...streams.values()]) {
      if (!bodyPending(stream)) continue;
      const res = responseOf(stream);
      if (res !== undefined) streamBodyTimeout(res);
      else stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    s[kBodySince] = 0;
  }

  /** True (and the client cut) when the socket's request body has not moved for bodyMs. */
  private bodyStalled(s: IdleSocket, now: number): boolean {
    const req = s.parser?.incoming;
    if (req === null || req === undefined || req.complete || s.isPaused()) {
      s[kBodySince] = 0;
      return false;
    }
    const read = s.bytesRead;
    if (s[kBodySince] === 0 || read !== s[kBodyRead]) {
      s[kBodyRead] = read;
      s[kBodySince] = now;
      return false;
    }
    if (now - s[kBodySince] < this.bodyMs) return false;
    s[kBodySince] = 0;
    clientBodyTimeout(s);
    return true;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** socket.setTimeout for tracked sockets (see IdleTimers): same arguments and listener handling. */
function recordTimeout(this: IdleSocket, ms: number, callback?: () => void): IdleSocket {
  (this as { timeout?: number }).timeout = ms;
  if (ms > 0) {
    this[kIdleMs] = ms;
    // idleNow may be up to a sweep old: one sweep more keeps the deadline at least `ms` away.
    this[kIdleAt] = idleNow + ms + IDLE_SWEEP_MS;
    this[kIdleRead] = -1;
    if (callback !== undefined) this.once('timeout', callback);
  } else {
    this[kIdleAt] = 0;
    if (callback !== undefined) this.removeListener('timeout', callback);
  }
  return this;
}
