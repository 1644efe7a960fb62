// Incremental TLS ClientHello reader: finds the SNI (and ALPN) of a connection from the raw bytes
// without terminating TLS, so TLS passthrough can route on it and then forward the very same bytes.
//
// Layout read (RFC 8446 §5.1 and §4.1.2, RFC 6066 §3, RFC 7301 §3.1):
//   record:     type(1)=22 handshake, legacy_version(2)=0x03xx, length(2) ≤ 2^14, fragment
//   handshake:  msg_type(1)=1 client_hello, length(3), body — possibly spread over several records
//   body:       version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//               compression_methods<1..2^8-1> [extensions<0..2^16-1>]
//
// Bytes arrive in arbitrary TCP segments, down to one byte at a time. The reader keeps only what it
// has not yet framed and concatenates once per record boundary, so a hostile client trickling bytes
// costs linear work, and `maxBytes` bounds the memory held per connection.

export interface ClientHelloInfo {
  /** SNI host_name, lower-cased, without a trailing dot. Absent when the client sent none. */
  serverName?: string;
  /** ALPN protocol names offered, in client order. */
  alpn: string[];
  /** legacy_version of the ClientHello body (0x0303 for TLS 1.2 and 1.3). */
  version: number;
}

export type ClientHelloResult =
  | { state: 'incomplete' }
  | { state: 'done'; hello: ClientHelloInfo }
  | { state: 'invalid'; reason: string };

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const MAX_RECORD = 16384 + 256; // 2^14 plaintext, a little slack for lenient peers
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

export const DEFAULT_MAX_CLIENT_HELLO_BYTES = 64 * 1024;

/** Feeds on the raw stream (push) until it has the whole ClientHello message. */
export class ClientHelloReader {
  private readonly maxBytes: number;
  /** Every byte pushed so far, to be replayed to the backend or the local TLS stack. */
  private readonly raw: Buffer[] = [];
  private rawLength = 0;
  /** Bytes not yet framed into records (start at a record header). */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes needed in `pending` before framing can progress: a header (5) or a whole record. */
  private needed = 5;
  /** Handshake-layer bytes collected from record fragments. */
  private handshake: Buffer[] = [];
  private handshakeLength = 0;
  /** Header + body length of the ClientHello message, once its header has been seen. */
  private handshakeTotal = -1;
  private result: ClientHelloResult = { state: 'incomplete' };

  constructor(maxBytes = DEFAULT_MAX_CLIENT_HELLO_BYTES) {
    this.maxBytes = maxBytes;
  }

  /** All bytes received so far (the ClientHello records and anything the client sent after them). */
  bytes(): Buffer {
    return this.raw.length === 1 ? this.raw[0] : Buffer.concat(this.raw, this.rawLength);
  }

  push(chunk: Buffer): ClientHelloResult {
    if (this.result.state !== 'incomplete') {
      // Keep recording what follows, so the caller can replay everything it read.
      this.raw.push(chunk);
      this.rawLength += chunk.length;
      return this.result;
    }
    this.raw.push(chunk);
    this.rawLength += chunk.length;
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    this.result = this.advance();
    if (this.result.state === 'incomplete' && this.rawLength >= this.maxBytes) {
      this.result = { state: 'invalid', reason: `no complete ClientHello within ${this.maxBytes} bytes` };
    }
    return this.result;
  }

  private advance(): ClientHelloResult {
    while (this.pendingLength >= this.needed) {
      const buf = this.takePending();
      if (this.needed === 5) {
        if (buf[0] !== RECORD_HANDSHAKE) {
          return { state: 'invalid', reason: buf[0] & 0x80 ? 'SSLv2 ClientHello is not supported' : `not a TLS handshake record (type ${buf[0]})` };
        }
        if (buf[1] !== 3) return { state: 'invalid', reason: `unsupported record version ${buf[1]}.${buf[2]}` };
        const len = buf.readUInt16BE(3);
        if (len === 0 || len > MAX_RECORD) return { state: 'invalid', reason: `bad record length ${len}` };
        this.needed = 5 + len;
        this.putBack(buf);
        continue;
      }
      // A whole record: its fragment goes to the handshake layer, the rest waits for the next header.
      const fragment = buf.subarray(5, this.needed);
      this.putBack(buf.subarray(this.needed));
      this.needed = 5;
      this.handshake.push(fragment);
      this.handshakeLength += fragment.length;
      const r = this.tryHandshake();
      if (r.state !== 'incomplete') return r;
    }
    return { state: 'incomplete' };
  }

  private tryHandshake(): ClientHelloResult {
    if (this.handshakeLength < 4) return { state: 'incomplete' };
    if (this.handshakeTotal < 0) {
      // First time the 4-byte header is complete: validate it and learn the message length.
      const head = this.handshake.length === 1 ? this.handshake[0] : Buffer.concat(this.handshake, this.handshakeLength);
      this.handshake = [head];
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return { state: 'invalid', reason: `first handshake message is type ${head[0]}, not ClientHello` };
      const len = head.readUIntBE(1, 3);
      if (len > this.maxBytes) return { state: 'invalid', reason: `ClientHello of ${len} bytes exceeds the limit` };
      this.handshakeTotal = 4 + len;
    }
    if (this.handshakeLength < this.handshakeTotal) return { state: 'incomplete' };
    const hs = Buffer.concat(this.handshake, this.handshakeLength);
    return parseClientHelloBody(hs.subarray(4, this.handshakeTotal));
  }

  private takePending(): Buffer {
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    return buf;
  }

  private putBack(buf: Buffer): void {
    if (buf.length === 0) return;
    this.pending = [buf];
    this.pendingLength = buf.length;
  }
}

/** Parses a ClientHello handshake body (after the 4-byte handshake header). */
export function parseClientHelloBody(body: Buffer): ClientHelloResult {
  const r = new Cursor(body);
  try {
    const version = r.u16();
    if (version >> 8 !== 3) return invalid(`unsupported ClientHello version 0x${version.toString(16)}`);
    r.skip(32); // random
    const sessionIdLength = r.u8();
    if (sessionIdLength > 32) return invalid('session_id longer than 32 bytes');
    r.skip(sessionIdLength);
    const suitesLength = r.u16();
    if (suitesLength < 2 || suitesLength % 2 !== 0) return invalid('bad cipher_suites length');
    r.skip(suitesLength);
    const compressionLength = r.u8();
    if (compressionLength < 1) return invalid('empty compression_methods');
    r.skip(compressionLength);
    const hello: ClientHelloInfo = { alpn: [], version };
    if (r.remaining() === 0) return { state: 'done', hello }; // no extensions at all
    const extensionsLength = r.u16();
    if (extensionsLength !== r.remaining()) return invalid('extensions length does not match the message');
    const seen = new Set<number>();
    while (r.remaining() > 0) {
      const type = r.u16();
      const data = r.bytes(r.u16());
      if (seen.has(type)) return invalid(`duplicate extension ${type}`);
      seen.add(type);
      if (type === EXT_SERVER_NAME) {
        const name = parseServerName(data);
        if (typeof name === 'object') return name;
        hello.serverName = name;
      } else if (type === EXT_ALPN) {
        const alpn = parseAlpn(data);
        if (!Array.isArray(alpn)) return alpn;
        hello.alpn = alpn;
      }
    }
    return { state: 'done', hello };
  } catch (err) {
    if (err instanceof Truncated) return invalid('ClientHello truncated');
    throw err;
  }
}

/** server_name extension data: a list with at most one host_name entry (RFC 6066 §3). */
function parseServerName(data: Buffer): string | undefined | { state: 'invalid'; reason: string } {
  const r = new Cursor(data);
  if (r.u16() !== r.remaining()) return invalid('server_name list length mismatch');
  let host: string | undefined;
  while (r.remaining() > 0) {
    const nameType = r.u8();
    const name = r.bytes(r.u16());
    if (nameType !== 0) continue; // unknown name types are skipped
    if (host !== undefined) return invalid('more than one host_name in server_name');
    const checked = checkHostName(name);
    if (checked === undefined) return invalid('malformed SNI host_name');
    host = checked;
  }
  // An extension that lists no host_name carries no SNI.
  return host;
}

/** Lower-cased DNS name, or undefined when it is not one (IP literals are not allowed in SNI either). */
function checkHostName(name: Buffer): string | undefined {
  if (name.length === 0 || name.length > 255) return undefined;
  let s = name.toString('latin1').toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (!/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(s)) return undefined;
  return s;
}

function parseAlpn(data: Buffer): string[] | { state: 'invalid'; reason: string } {
  const r = new Cursor(data);
  if (r.u16() !== r.remaining()) return invalid('ALPN list length mismatch');
  const out: string[] = [];
  while (r.remaining() > 0) {
    const p = r.bytes(r.u8());
    if (p.length === 0) return invalid('empty ALPN protocol name');
    out.push(p.toString('latin1'));
  }
  return out;
}

function invalid(reason: string): { state: 'invalid'; reason: string } {
  return { state: 'invalid', reason };
}

class Truncated extends Error {}

/** Bounds-checked big-endian reader; reading past the end throws Truncated. */
class Cursor {
  private pos = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  remaining(): number {
    return this.buf.length - this.pos;
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Truncated();
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
