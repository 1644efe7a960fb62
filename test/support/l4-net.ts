// Real-socket helpers for the layer-4 tests: backends (TCP echo, TLS echo, UDP echo), IR builders,
// ClientHello capture from a real TLS client, and a transport that fragments what a TLS client
// writes (byte by byte, or re-framed into many small TLS records).
import net from 'node:net';
import tls from 'node:tls';
import dgram from 'node:dgram';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { IRBackend, IRL4Route, IRListener, IRListenerTLS, ListenerProtocol } from '../../src/ir/types.ts';

export function listener(id: string, protocol: ListenerProtocol, port: number, routes: IRL4Route[], extra: { hostname?: string; tls?: IRListenerTLS } = {}): IRListener {
  return {
    source: { kind: 'Gateway', namespace: 'default', name: 'gw', sectionName: id },
    id: `default/gw/${id}`,
    port,
    protocol,
    virtualHosts: [],
    l4Routes: routes,
    ...extra,
  };
}

export function l4route(name: string, backends: [string | undefined, number][], hostnames: string[] = []): IRL4Route {
  return {
    source: { kind: 'TLSRoute', namespace: 'default', name, rule: 0 },
    hostnames,
    backends: backends.map(([backendId, weight]) => ({ backendId, weight, filters: [] })),
  };
}

export function backend(id: string, ports: number[], extra: Partial<IRBackend> = {}): IRBackend {
  return {
    id,
    source: { kind: 'Service', namespace: 'default', name: id },
    protocol: 'tcp',
    endpoints: ports.map((port) => ({ address: '127.0.0.1', port })),
    ...extra,
  };
}

export interface Closable {
  port: number;
  close(): Promise<void>;
}

function listenTcp(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
}

/**
 * TCP backend: on connect sends `<name>\n`, then echoes every byte; on the client's FIN it sends
 * `<name>:bytes=<n>\n` and ends (so half-close can be observed).
 */
export async function tcpEcho(name: string): Promise<Closable & { accepted: () => number }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let n = 0;
    s.write(`${name}\n`);
    s.on('data', (d) => {
      n += d.length;
      s.write(d);
    });
    s.on('end', () => s.end(`${name}:bytes=${n}\n`));
  });
  const port = await listenTcp(server);
  return { port, close: closer(server, sockets), accepted: () => accepted };
}

/** TLS backend with its own certificate; echoes `<name>:<data>` (and supports half-close like tcpEcho). */
export async function tlsEcho(name: string, cert: { certPem: string; keyPem: string }): Promise<Closable> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d) => s.write(`${name}:${d}`));
    s.on('end', () => s.end());
  });
  const port = await listenTcp(server);
  return { port, close: closer(server, sockets) };
}

/** UDP backend: answers every datagram with `<name>:<payload>`; remembers the source ports it saw. */
export async function udpEcho(name: string): Promise<Closable & { sources: Set<number> }> {
  const sock = dgram.createSocket('udp4');
  const sources = new Set<number>();
  sock.on('message', (msg, rinfo) => {
    sources.add(rinfo.port);
    sock.send(`${name}:${msg}`, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  return { port: sock.address().port, sources, close: () => new Promise((resolve) => sock.close(() => resolve())) };
}

/** A UDP client socket with a promise-based request/response. */
export async function udpClient(): Promise<{ port: number; ask(port: number, msg: string, timeoutMs?: number): Promise<string>; close(): void }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const waiting: ((m: string) => void)[] = [];
  sock.on('message', (m) => waiting.shift()?.(m.toString()));
  return {
    port: sock.address().port,
    ask(port, msg, timeoutMs = 2000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(done), 1);
          reject(new Error(`no UDP answer to ${msg}`));
        }, timeoutMs);
        const done = (m: string) => {
          clearTimeout(timer);
          resolve(m);
        };
        waiting.push(done);
        sock.send(msg, port, '127.0.0.1');
      });
    },
    close: () => sock.close(),
  };
}

/** Listens on `server` (an L4 proxy's net.Server) on an ephemeral loopback port. */
export function listenProxy(server: net.Server): Promise<number> {
  return listenTcp(server);
}

/** Connects, optionally writes, and collects everything until the peer closes. */
export function tcpExchange(port: number, payload?: string, opts: { end?: boolean } = {}): Promise<{ data: string; error?: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    let error: string | undefined;
    s.on('data', (d) => (data += d));
    s.on('end', () => s.end()); // the peer finished: finish too
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ data, error }));
    s.on('connect', () => {
      if (payload !== undefined) s.write(payload);
      if (opts.end !== false) s.end();
    });
  });
}

/** The first TLS record(s) a real Node TLS client sends for these options: its ClientHello. */
export async function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  let got!: (b: Buffer) => void;
  const result = new Promise<Buffer>((r) => (got = r));
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
        got(buf.subarray(0, 5 + buf.readUInt16BE(3)));
        s.destroy();
      }
    });
  });
  const port = await listenTcp(server);
  const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
  c.on('error', () => {});
  const hello = await result;
  c.destroy();
  await new Promise((r) => server.close(r));
  return hello;
}

/** Splits the payload of every TLS record in `data` into records carrying at most `size` bytes. */
export function reframe(data: Buffer, size: number): Buffer {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 5 <= data.length) {
    const len = data.readUInt16BE(off + 3);
    const payload = data.subarray(off + 5, off + 5 + len);
    for (let i = 0; i < payload.length; i += size) {
      const frag = payload.subarray(i, i + size);
      const head = Buffer.from([data[off], data[off + 1], data[off + 2], 0, 0]);
      head.writeUInt16BE(frag.length, 3);
      out.push(head, frag);
    }
    off += 5 + len;
  }
  out.push(data.subarray(off));
  return Buffer.concat(out);
}

/**
 * A transport for tls.connect({ socket }) that fragments the client's first flight:
 * 'bytes' writes it one byte per write (a separate TCP segment with noDelay); 'records' re-frames it into 16-byte TLS records.
 * Everything after the first write goes through unchanged.
 */
export function fragmentingTransport(port: number, mode: 'bytes' | 'records'): Duplex {
  const sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
  let first = true;
  const d: Duplex = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (!first) return void sock.write(chunk, cb);
      first = false;
      if (mode === 'records') return void sock.write(reframe(chunk, 16), cb);
      void (async () => {
        for (let i = 0; i < chunk.length; i++) {
          if (sock.destroyed) break;
          sock.write(chunk.subarray(i, i + 1));
          // Let each byte leave as its own segment; a real pause now and then defeats coalescing.
          await new Promise((r) => (i % 16 === 0 ? setTimeout(r, 1) : setImmediate(r)));
        }
        cb();
      })();
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  sock.on('data', (chunk) => {
    if (!d.push(chunk)) sock.pause();
  });
  sock.on('end', () => d.push(null));
  sock.on('error', (e) => d.destroy(e));
  sock.on('close', () => d.destroy());
  return d;
}

/** Result of a TLS client connection through the proxy. */
export interface TlsResult {
  /** Peer certificate subject CN (which server the client really talked to). */
  cn?: string;
  /** Peer certificate SANs. */
  san?: string;
  data: string;
  error?: string;
}

/** TLS client: handshake with SNI `servername`, send `payload`, end, collect the reply until close. */
export function tlsExchange(port: number, servername: string | undefined, payload: string, opts: tls.ConnectionOptions = {}): Promise<TlsResult> {
  return new Promise((resolve) => {
    const c = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), rejectUnauthorized: false, ...opts });
    const r: TlsResult = { data: '' };
    c.setTimeout(5000, () => c.destroy(new Error('client timeout')));
    c.on('secureConnect', () => {
      const cert = c.getPeerCertificate();
      r.cn = cert?.subject?.CN as string | undefined;
      r.san = cert?.subjectaltname;
      c.write(payload);
      c.end();
    });
    c.on('data', (d) => (r.data += d));
    c.on('error', (e: NodeJS.ErrnoException) => (r.error = e.code ?? e.message));
    c.on('close', () => resolve(r));
  });
}
