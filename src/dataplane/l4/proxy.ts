// Opening the backend connection and splicing it to the client.
//
// - Endpoints are tried in the order the balancer gave, up to `maxAttempts`; nothing has been
//   written upstream before a connect succeeds, so trying the next endpoint is always safe.
// - splice() pipes both ways with backpressure (stream.pipe pauses the faster side) and carries
//   half-close: when one side ends its writes, the other side's write half is ended and the
//   opposite direction keeps flowing. Both sockets must be created with allowHalfOpen.
// - An error on either side destroys the other, so a reset on one side is a reset on the other.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IRBackendTLS, IRCertificate } from '../../ir/types.ts';
import { verifyBackendIdentity } from '../upstream/identity.ts';
import type { Endpoint } from './balance.ts';

/** TCP keepalive probes on both legs, so a peer that vanished without a FIN is noticed. */
export const KEEPALIVE_MS = 60_000;

export interface ConnectOptions {
  connectTimeoutMs: number;
  maxAttempts: number;
  /** TLS origination (BackendTLSPolicy), only for terminated traffic. */
  tls?: IRBackendTLS;
  /** Gateway spec.tls.backend client certificate, presented when originating TLS. */
  clientCertificate?: IRCertificate;
  /** Called for every failed attempt (metrics). */
  onAttemptError?: (endpoint: Endpoint, err: Error) => void;
}

export async function connectUpstream(endpoints: readonly Endpoint[], opts: ConnectOptions): Promise<net.Socket> {
  let lastError: Error = new Error('no endpoints');
  const attempts = Math.min(endpoints.length, Math.max(1, opts.maxAttempts));
  for (let i = 0; i < attempts; i++) {
    try {
      return await connectOne(endpoints[i], opts);
    } catch (err) {
      lastError = err as Error;
      opts.onAttemptError?.(endpoints[i], lastError);
    }
  }
  throw lastError;
}

function connectOne(ep: Endpoint, opts: ConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: ep.address, port: ep.port, allowHalfOpen: true });
    raw.setNoDelay(true);
    raw.setKeepAlive(true, KEEPALIVE_MS);
    const sock: net.Socket = opts.tls ? tls.connect({ socket: raw, ...originationOptions(opts.tls, opts.clientCertificate) }) : raw;
    const ready = opts.tls ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => fail(new Error(`connect to ${ep.address}:${ep.port} timed out`)), opts.connectTimeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      sock.removeListener(ready, ok);
      sock.destroy();
      raw.destroy();
      reject(err);
    };
    const ok = () => {
      clearTimeout(timer);
      sock.removeListener('error', fail);
      sock.on('error', () => {}); // until splice() attaches its handlers
      resolve(sock);
    };
    sock.once(ready, ok);
    sock.once('error', fail);
  });
}

function originationOptions(t: IRBackendTLS, clientCert?: IRCertificate): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { servername: t.sni }; // half-open follows the raw socket
  if (t.caPem) o.ca = t.caPem; // wellKnown System: Node's default trust store
  if (clientCert) {
    o.cert = clientCert.certPem;
    o.key = clientCert.keyPem;
  }
  // subjectAltNames, when given, replace the hostname check (any one of them must match).
  o.checkServerIdentity = (_host, cert) => verifyBackendIdentity(t, cert);
  return o;
}

/**
 * Pipes `client` and `upstream` both ways; `head` is written upstream first (replayed ClientHello).
 * With `idle` (a socket carrying the client's traffic, and a timeout in ms), a connection with no
 * traffic in either direction for that long is torn down.
 */
export function splice(client: Duplex, upstream: Duplex, head?: Buffer, idle?: { socket: net.Socket; ms: number }): void {
  if (head && head.length > 0) upstream.write(head);
  if (idle && idle.ms > 0) {
    idle.socket.setTimeout(idle.ms, () => {
      client.destroy();
      upstream.destroy();
    });
  }
  const onError = (other: Duplex) => () => other.destroy();
  client.on('error', onError(upstream));
  upstream.on('error', onError(client));
  // A side that closes without error after finishing normally leaves the other to drain and end;
  // a side torn down early (reset, timeout, destroy) takes the other down with it.
  const onClose = (self: Duplex, other: Duplex) => () => {
    if (self.readableEnded && self.writableFinished) other.end();
    else other.destroy();
  };
  client.once('close', onClose(client, upstream));
  upstream.once('close', onClose(upstream, client));
  client.pipe(upstream);
  upstream.pipe(client);
}

/** Closes a connection abruptly (TCP RST where the platform allows it). */
export function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && !(socket instanceof tls.TLSSocket)) socket.resetAndDestroy();
  else socket.destroy();
}
