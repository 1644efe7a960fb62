// Options and helpers shared by the TCP and TLS servers.
import net from 'node:net';
import type { IRBackend, IRBackendTLS, IRCertificate, IRListener } from '../../ir/types.ts';
import { Balancer } from './balance.ts';
import type { Pick } from './balance.ts';
import { count } from './metrics.ts';
import { KEEPALIVE_MS, connectUpstream } from './proxy.ts';

export interface L4Options {
  /** Per-attempt timeout to connect to a backend endpoint. Default 10 s. */
  connectTimeoutMs?: number;
  /** Endpoints tried per connection before giving up (next ones in round-robin order). Default 3. */
  maxConnectAttempts?: number;
  /** TLS: time a client has to send its whole ClientHello (and, when terminating, finish the handshake). Default 10 s. */
  handshakeTimeoutMs?: number;
  /** TLS: largest ClientHello accepted, in bytes. Default 64 KiB. */
  maxClientHelloBytes?: number;
  /** Gateway spec.tls.backend client certificate, presented to TLS backends (terminated TLSRoutes). */
  backendClientCertificate?: IRCertificate;
  /** Closes proxied connections idle (no byte either way) for this long. Default 0: never. */
  idleTimeoutMs?: number;
  /**
   * TLS ports shared with HTTPS listeners (HTTPS and TLS Terminate may share a port, told apart by
   * SNI): when the SNI selects an HTTPS listener — or the client sent no SNI and the port has an
   * HTTPS listener — the socket is handed over with every byte read so far pushed back into it
   * (socket.unshift), ready for e.g. `httpsServer.emit('connection', socket)`. Without it, HTTPS
   * listeners given to the TLS server refuse their connections.
   */
  delegate?: (listener: IRListener, socket: net.Socket) => void;
  /** Called with a short message whenever a connection is refused (access/debug logging). */
  onReject?: (info: { listener?: string; reason: string; remote?: string; sni?: string }) => void;
}

export interface ResolvedL4Options {
  connectTimeoutMs: number;
  maxConnectAttempts: number;
  handshakeTimeoutMs: number;
  maxClientHelloBytes: number;
  idleTimeoutMs: number;
  backendClientCertificate?: IRCertificate;
  delegate?: L4Options['delegate'];
  onReject?: L4Options['onReject'];
}

export function resolveOptions(o: L4Options = {}): ResolvedL4Options {
  return {
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    maxConnectAttempts: o.maxConnectAttempts ?? 3,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
    maxClientHelloBytes: o.maxClientHelloBytes ?? 64 * 1024,
    idleTimeoutMs: o.idleTimeoutMs ?? 0,
    backendClientCertificate: o.backendClientCertificate,
    delegate: o.delegate,
    onReject: o.onReject,
  };
}

export type Backends = Readonly<Record<string, IRBackend>>;

/** The stream server every L4 listener port runs: half-open sockets so half-close can be proxied. */
export function createStreamServer(handle: (socket: net.Socket) => void): net.Server {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, handle);
  // A client error before our handler attaches its own must not become an uncaught exception.
  server.on('connection', (s) => s.on('error', () => {}));
  return server;
}

/** Tracks open client sockets so close() can end them. */
export class ConnectionSet {
  private readonly sockets = new Set<net.Socket>();
  private onEmpty?: () => void;
  add(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      if (this.sockets.size === 0) this.onEmpty?.();
    });
  }
  get size(): number {
    return this.sockets.size;
  }
  /** Waits up to `graceMs` for connections to finish on their own, then resets the rest. */
  async drain(graceMs: number): Promise<void> {
    if (graceMs > 0 && this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, graceMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.onEmpty = done;
      });
      this.onEmpty = undefined;
    }
    // Cut with a reset, so clients can tell an aborted stream from a complete one.
    for (const s of this.sockets) {
      if (typeof s.resetAndDestroy === 'function' && !s.destroyed && s.readyState !== 'opening') s.resetAndDestroy();
      else s.destroy();
    }
    this.sockets.clear();
  }
}

/** Resolves when a net.Server has stopped listening (immediately if it never listened). */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

export interface L4StreamServer {
  /** Unbound server; the caller listens on it (server.listen(port, address)) and reports bind errors. */
  readonly server: net.Server;
  /** Hands over a connection accepted elsewhere; the socket must have been created with allowHalfOpen. */
  handleConnection(socket: net.Socket): void;
  /** Swaps the configuration for new connections; open connections keep their backend. Options, when given, replace the previous ones for new connections. */
  update(listeners: IRListener[], backends: Backends, options?: L4Options): void;
  /** Number of connections currently open. */
  readonly connections: number;
  /** Stops accepting, waits up to graceMs (default 0) for open connections, then destroys them. */
  close(graceMs?: number): Promise<void>;
}

/** What a connection handler sees: always the table and options of the latest update(). */
export interface LiveConfig<T> {
  readonly table: T;
  readonly opts: ResolvedL4Options;
  readonly balancer: Balancer;
}

/**
 * The shell of the TCP and TLS servers: connection tracking, keepalive, configuration swaps and
 * graceful close. `compile` turns listeners into the protocol's lookup table; `serve` takes each
 * accepted connection (its error listener and keepalive already set).
 */
export function createL4StreamServer<T>(
  compile: (listeners: IRListener[], backends: Backends) => T,
  serve: (socket: net.Socket, live: LiveConfig<T>) => void,
  listeners: IRListener[], backends: Backends, options: L4Options = {},
): L4StreamServer {
  let opts = resolveOptions(options);
  let table = compile(listeners, backends);
  const balancer = new Balancer();
  const live: LiveConfig<T> = { get table() { return table; }, get opts() { return opts; }, balancer };
  const conns = new ConnectionSet();

  const handleConnection = (socket: net.Socket) => {
    conns.add(socket);
    socket.on('error', () => {});
    socket.setKeepAlive(true, KEEPALIVE_MS);
    serve(socket, live);
  };
  const server = createStreamServer(handleConnection);
  return {
    server,
    handleConnection,
    update(ls, bs, o) {
      table = compile(ls, bs);
      if (o) opts = resolveOptions(o);
    },
    get connections() {
      return conns.size;
    },
    async close(graceMs = 0) {
      const closed = closeServer(server);
      await conns.drain(graceMs);
      await closed;
    },
  };
}

export interface L4Labels {
  listener: string;
  protocol: 'TCP' | 'TLS';
  port: number;
}

/** Connects to one of the picked endpoints (in balancer order), counting every failed attempt. */
export function dialPicked(
  pick: Extract<Pick, { ok: true }>, labels: L4Labels, opts: ResolvedL4Options,
  origination?: { tls?: IRBackendTLS; clientCertificate?: IRCertificate },
): Promise<net.Socket> {
  return connectUpstream(pick.endpoints, {
    connectTimeoutMs: opts.connectTimeoutMs,
    maxAttempts: opts.maxConnectAttempts,
    ...origination,
    onAttemptError: () => count('portico_l4_upstream_connect_errors_total', labels),
  });
}
