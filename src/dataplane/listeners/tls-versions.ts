// Per-listener TLS version ranges on an HTTPS port (tls.options portico.dev/tls-min-version and
// portico.dev/tls-max-version). OpenSSL settles the protocol version before SNI picks the
// listener's certificate context, so a server cannot cap one listener at TLS 1.2 and offer 1.3 on
// its neighbour. Ports where some listener sets a range therefore read the ClientHello first
// (l4/clienthello.ts), pick the listener by its SNI as the handshake would, and hand the
// connection, bytes pushed back, to a TLS server made for that listener's range. Ports without
// such options never come here and keep one server.
import type net from 'node:net';
import type { SecureVersion } from 'node:tls';
import { ClientHelloReader } from '../l4/clienthello.ts';

export interface VersionRange {
  min?: SecureVersion;
  max?: SecureVersion;
}

export class VersionDispatch<S extends net.Server> {
  private readonly byRange = new Map<string, S>();
  private readonly make: (range: VersionRange) => S;
  private readonly rangeFor: (servername: string) => VersionRange;
  private readonly helloTimeoutMs: number;

  /**
   * `make` builds a TLS server for a range (it never listens: connections are emitted to it);
   * `rangeFor` names the range of the listener a servername selects ('' without SNI).
   */
  constructor(make: (range: VersionRange) => S, rangeFor: (servername: string) => VersionRange, helloTimeoutMs: number) {
    this.make = make;
    this.rangeFor = rangeFor;
    this.helloTimeoutMs = helloTimeoutMs;
  }

  /** Every server made so far (to update their default certificate, and to close them). */
  servers(): IterableIterator<S> {
    return this.byRange.values();
  }

  /** The server for a range, made on first use. */
  serverFor(range: VersionRange): S {
    const key = `${range.min ?? ''}|${range.max ?? ''}`;
    let s = this.byRange.get(key);
    if (s === undefined) {
      s = this.make(range);
      this.byRange.set(key, s);
    }
    return s;
  }

  /** Reads the ClientHello of a new connection, then gives it to the server of its listener's range. */
  accept(sock: net.Socket): void {
    const reader = new ClientHelloReader();
    // A client that never completes its hello is closed like one that never sends its headers.
    const timer = setTimeout(() => sock.destroy(), this.helloTimeoutMs);
    const onData = (chunk: Buffer) => {
      const r = reader.push(chunk);
      if (r.state === 'incomplete') return;
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      sock.unshift(reader.bytes());
      // Not a ClientHello we can read: the default server answers it with the proper TLS alert.
      const range = r.state === 'done' ? this.rangeFor(r.hello.serverName ?? '') : {};
      this.serverFor(range).emit('connection', sock);
    };
    sock.on('data', onData);
    // A connection handed over from a shared port's l4 server arrives paused, its hello pushed back.
    sock.resume();
    sock.once('close', () => clearTimeout(timer));
    sock.on('error', () => {});
  }
}
