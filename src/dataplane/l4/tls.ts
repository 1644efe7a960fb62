// TLS listeners (TLSRoute) sharing one port: passthrough, terminate, and both at once ("mixed").
//
// Per connection:
//   1. Read the ClientHello from the raw stream (clienthello.ts) within handshakeTimeoutMs.
//      No SNI, an SNI no listener or route claims, or no usable backend: the connection is reset
//      (never routed to a default); a malformed hello gets a decode_error alert.
//   2. The most specific listener hostname on the port picks the listener (hosts.ts); then the most
//      specific TLSRoute hostname among that listener's routes picks the route.
//   3. Passthrough: connect to a weighted backend endpoint, replay the ClientHello bytes, splice.
//      Terminate: hand the buffered bytes back to a local TLS server socket using the listener's
//      certificate for that SNI (first certificate that covers it, else the first), then splice
//      the plaintext to the backend (re-encrypted when the backend has a BackendTLSPolicy).
//
// Mixed mode. Gateway API has only the modes Terminate and Passthrough per listener; "mixed" is a
// port carrying listeners of both modes (feature TLSRouteModeMixed, GEP-2643), and the decision is
// per connection: the listener the SNI selects decides. An IR listener whose own mode is 'Mixed'
// terminates the connections whose SNI one of its certificates covers and passes the others through.
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { IRCertificate, IRL4Route, IRListener } from '../../ir/types.ts';
import type { Balancer, Pick } from './balance.ts';
import { ClientHelloReader } from './clienthello.ts';
import type { ClientHelloInfo } from './clienthello.ts';
import { createL4StreamServer, dialPicked } from './common.ts';
import type { Backends, L4Labels, L4Options, L4StreamServer, ResolvedL4Options } from './common.ts';
import { selectListener, selectRoute } from './hosts.ts';
import { count, trackConnection } from './metrics.ts';
import { reset, splice } from './proxy.ts';
import { clientVerificationCA, listenerTlsOptions } from '../listeners/tls-options.ts';

interface CertEntry {
  context: tls.SecureContext;
  x509: X509Certificate;
}

interface CompiledListener {
  listener: IRListener;
  mode: 'Terminate' | 'Passthrough' | 'Mixed';
  /** Terminate / Mixed: usable certificates in spec order. Empty: terminating is impossible. */
  certs: CertEntry[];
  requestCert: boolean;
  rejectUnauthorized: boolean;
  /** tls.options portico.dev/alpn: protocols offered by ALPN when terminating. */
  alpn?: string[];
}

interface TlsTable {
  listeners: IRListener[];
  compiled: Map<IRListener, CompiledListener>;
  backends: Backends;
}

export function createTlsServer(listeners: IRListener[], backends: Backends, options: L4Options = {}): L4StreamServer {
  return createL4StreamServer(compile, (socket, live) => {
    // The route is chosen with the configuration current when the ClientHello is complete.
    readHello(socket, live.opts, (hello, head) => route(socket, hello, head, live.table, live.balancer, live.opts));
  }, listeners, backends, options);
}

/** Same as createTlsServer: the name the brief for passthrough-only ports uses. */
export const createTlsPassthroughServer = createTlsServer;

function compile(listeners: IRListener[], backends: Backends): TlsTable {
  // HTTPS listeners take part in SNI selection (they own their hostnames on a shared port) but are
  // served by the delegate; only TLS listeners are compiled here.
  const tlsListeners = listeners.filter((l) => l.protocol === 'TLS' || l.protocol === 'HTTPS');
  const compiled = new Map<IRListener, CompiledListener>();
  for (const l of tlsListeners) {
    if (l.protocol !== 'TLS') continue;
    const mode = l.tls?.mode ?? 'Passthrough';
    const cv = l.tls?.clientValidation;
    const o = listenerTlsOptions(l.tls?.options);
    compiled.set(l, {
      listener: l,
      mode,
      certs: mode === 'Passthrough' ? [] : contexts(l.tls?.certificates ?? [], clientVerificationCA(cv), o),
      requestCert: cv !== undefined,
      rejectUnauthorized: cv?.mode === 'AllowValidOnly',
      alpn: o.alpn,
    });
  }
  return { listeners: tlsListeners, compiled, backends };
}

/** Secure contexts for the listener's certificates; a certificate that does not load is skipped. */
function contexts(certs: IRCertificate[], caPem: string | undefined, o: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion }): CertEntry[] {
  const out: CertEntry[] = [];
  for (const c of certs) {
    try {
      out.push({
        context: tls.createSecureContext({ cert: c.certPem, key: c.keyPem, ...(caPem ? { ca: caPem } : {}), minVersion: o.minVersion, maxVersion: o.maxVersion }),
        x509: new X509Certificate(c.certPem),
      });
    } catch {
      // Translation validates Secrets; a bad one here must still never take the port down.
    }
  }
  return out;
}

/** Reads the ClientHello, then calls `done` with it and every byte read so far; refuses on failure. */
function readHello(socket: net.Socket, opts: ResolvedL4Options, done: (hello: ClientHelloInfo, head: Buffer) => void): void {
  const port = socket.localPort ?? 0;
  const reader = new ClientHelloReader(opts.maxClientHelloBytes);
  const timer = setTimeout(() => finish('hello_timeout'), opts.handshakeTimeoutMs);
  const onData = (chunk: Buffer) => {
    const r = reader.push(chunk);
    if (r.state === 'done') finish(undefined, r.hello);
    else if (r.state === 'invalid') finish('bad_client_hello');
  };
  const onEnd = () => finish('closed_before_hello');
  function finish(reason?: string, hello?: ClientHelloInfo) {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (hello) return done(hello, reader.bytes());
    const why = reason ?? 'bad_client_hello';
    count('portico_l4_connections_rejected_total', { listener: '', protocol: 'TLS', port }, { reason: why });
    opts.onReject?.({ reason: why, remote: socket.remoteAddress });
    if (why === 'bad_client_hello') closeWithAlert(socket, alert(50));
    else reset(socket);
  }
  socket.on('data', onData);
  socket.on('end', onEnd);
}

/** A fatal alert record with the given description (50 decode_error). */
function alert(description: number): Buffer {
  return Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]);
}

/** Sends a fatal alert and closes; a client that never closes its side is cut after a second. */
function closeWithAlert(socket: net.Socket, record: Buffer): void {
  socket.end(record);
  socket.resume(); // discard whatever the client still sends
  setTimeout(() => socket.destroy(), 1000).unref();
}

function route(socket: net.Socket, hello: ClientHelloInfo, head: Buffer, table: TlsTable, balancer: Balancer, opts: ResolvedL4Options): void {
  const port = socket.localPort ?? 0;
  const sni = hello.serverName;
  const listener = sni === undefined ? undefined : selectListener(table.listeners, sni);
  const labels = { listener: listener?.id ?? '', protocol: 'TLS' as const, port };
  const refuse = (reason: string) => {
    count('portico_l4_connections_rejected_total', labels, { reason });
    opts.onReject?.({ listener: listener?.id, reason, remote: socket.remoteAddress, sni });
    // A bare TCP reset, no TLS alert: a TLSRoute that cannot take the connection (no listener or
    // route for the SNI, no usable backend) must look like a rejected connection, and clients
    // (the upstream conformance suite among them) tell that from a TLS-level error by the reset.
    reset(socket);
  };
  if (sni === undefined) {
    const https = table.listeners.find((l) => l.protocol === 'HTTPS' && !l.hostname) ?? table.listeners.find((l) => l.protocol === 'HTTPS');
    if (https && opts.delegate) return handOver(socket, head, https, opts.delegate);
    return refuse('no_sni');
  }
  if (!listener) return refuse('no_listener');
  const compiled = table.compiled.get(listener);
  if (!compiled) return opts.delegate ? handOver(socket, head, listener, opts.delegate) : refuse('no_delegate');
  const r: IRL4Route | undefined = selectRoute(listener.l4Routes, sni);
  if (!r) return refuse('no_route');
  const terminate = compiled.mode === 'Terminate' || (compiled.mode === 'Mixed' && compiled.certs.some((c) => c.x509.checkHost(sni) !== undefined));
  if (terminate && compiled.certs.length === 0) return refuse('no_certificate');
  const pick = balancer.pick(r.backends, table.backends);
  if (!pick.ok) return refuse(pick.reason);
  if (terminate && pick.backend.tls?.invalid) return refuse('invalid_backend_tls');
  if (terminate) terminateAndProxy(socket, head, sni, compiled, pick, labels, opts);
  else passthrough(socket, head, pick, labels, opts).catch(() => socket.destroy());
}

/** Gives the connection, with the bytes read so far pushed back, to the HTTPS side of the port. */
function handOver(socket: net.Socket, head: Buffer, listener: IRListener, delegate: NonNullable<ResolvedL4Options['delegate']>): void {
  socket.unshift(head);
  try {
    delegate(listener, socket);
  } catch {
    socket.destroy();
  }
}

async function passthrough(socket: net.Socket, head: Buffer, pick: Extract<Pick, { ok: true }>, labels: L4Labels, opts: ResolvedL4Options): Promise<void> {
  let upstream: net.Socket;
  try {
    upstream = await dialPicked(pick, labels, opts);
  } catch {
    count('portico_l4_connections_rejected_total', labels, { reason: 'upstream_connect' });
    opts.onReject?.({ listener: labels.listener, reason: 'upstream_connect', remote: socket.remoteAddress });
    return reset(socket);
  }
  if (socket.destroyed) return void upstream.destroy();
  trackConnection(labels, socket);
  splice(socket, upstream, head, { socket, ms: opts.idleTimeoutMs });
}

function terminateAndProxy(socket: net.Socket, head: Buffer, sni: string, compiled: CompiledListener, pick: Extract<Pick, { ok: true }>, labels: L4Labels, opts: ResolvedL4Options): void {
  const cert = compiled.certs.find((c) => c.x509.checkHost(sni) !== undefined) ?? compiled.certs[0];
  // Give the bytes already read back to the socket: TLSSocket consumes a socket's buffered data first.
  socket.unshift(head);
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: cert.context,
    requestCert: compiled.requestCert,
    rejectUnauthorized: compiled.rejectUnauthorized,
    ...(compiled.alpn ? { ALPNProtocols: compiled.alpn } : {}),
  });
  let established = false;
  secure.on('error', (err: NodeJS.ErrnoException) => {
    if (!established) {
      count('portico_l4_connections_rejected_total', labels, { reason: 'tls_handshake' });
      opts.onReject?.({ listener: labels.listener, reason: `tls_handshake: ${err.code ?? err.message}`, remote: socket.remoteAddress, sni });
    }
    socket.destroy();
  });
  const timer = setTimeout(() => {
    count('portico_l4_connections_rejected_total', labels, { reason: 'handshake_timeout' });
    secure.destroy();
  }, opts.handshakeTimeoutMs);
  secure.once('close', () => clearTimeout(timer));
  secure.once('secure', () => {
    clearTimeout(timer);
    if (compiled.rejectUnauthorized && !peerVerified(secure)) {
      count('portico_l4_connections_rejected_total', labels, { reason: 'client_certificate' });
      opts.onReject?.({ listener: labels.listener, reason: 'client_certificate', remote: socket.remoteAddress, sni });
      secure.destroy();
      return;
    }
    established = true;
    secure.pause();
    proxyTerminated(secure, socket, pick, labels, opts).catch(() => secure.destroy());
  });
}

/**
 * Whether the client certificate verified against the listener's CA bundle. A TLSSocket made
 * without a tls.Server never sets `authorized` (tls.Server's own connection handler does, from
 * the handle's verifyError()), and OpenSSL only fails the handshake for a missing certificate:
 * an untrusted one must be refused here. Without the handle's check we fail closed.
 */
function peerVerified(secure: tls.TLSSocket): boolean {
  const handle = (secure as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return false;
  return handle.verifyError() === null && secure.getPeerX509Certificate() !== undefined;
}

/** After the handshake: connect to the backend (re-encrypting if it has TLS settings) and splice plaintext. */
async function proxyTerminated(secure: tls.TLSSocket, socket: net.Socket, pick: Extract<Pick, { ok: true }>, labels: L4Labels, opts: ResolvedL4Options): Promise<void> {
  let upstream: net.Socket;
  try {
    upstream = await dialPicked(pick, labels, opts, { tls: pick.backend.tls, clientCertificate: opts.backendClientCertificate });
  } catch {
    count('portico_l4_connections_rejected_total', labels, { reason: 'upstream_connect' });
    secure.destroy();
    return;
  }
  if (secure.destroyed) return void upstream.destroy();
  trackConnection(labels, socket);
  splice(secure, upstream, undefined, { socket: secure, ms: opts.idleTimeoutMs });
}
