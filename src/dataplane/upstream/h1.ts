// A lean HTTP/1.1 client for cleartext HTTP/1.1 backends: keep-alive sockets and the native llhttp
// parser node:http itself uses (HTTPParser from node:_http_common), driven by the same handler
// calls as undici's dispatch (onRequestStart, onResponseStart/Data/End/Error), so Exchange and
// mirrors use either without knowing which. Why: CPU profiles of the proxy put undici (its JS
// request/queue machinery and wasm parser) at ~23 % of busy time; a minimal proxy over this kind
// of client used ~30-40 % less CPU per request than the same proxy over undici's Pool.
// Upgrades, TLS and HTTP/2 backends stay on undici.
import net from 'node:net';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [k: number]: unknown;
  conn?: Conn;
}
interface ParserClass { new(): NativeParser; RESPONSE: number; kOnMessageBegin: number; kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnExecute: number }

const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass };

type Headers = Record<string, string | string[] | undefined>;

/** The part of undici's DispatchHandler this client calls. */
export interface H1Handler {
  onRequestStart?(controller: H1Call, context: unknown): void;
  onResponseStart?(controller: H1Call, statusCode: number, headers: Headers, statusMessage?: string): void;
  onResponseData?(controller: H1Call, chunk: Buffer): void;
  onResponseEnd?(controller: H1Call, trailers: Headers): void;
  onResponseError?(controller: H1Call, err: Error): void;
}

export interface H1Request {
  method: string;
  path: string;
  headers: Headers;
  body?: Buffer | Readable | string | null;
}

const CONNECT_TIMEOUT_MS = 5_000;
/** Idle sockets are dropped after this, or 1 s before the backend's own `Keep-Alive: timeout`. */
const IDLE_MS = 30_000;
/** Characters a request target may hold (as undici): visible ASCII and Latin-1. */
const INVALID_PATH = /[^\u0021-\u00ff]/;
const INVALID_VALUE = /[\r\n\0]/;
const WITH_PAYLOAD = new Set(['POST', 'PUT', 'PATCH']);

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Keep-alive connections to one endpoint; at most one request per connection at a time. */
export class H1Client {
  readonly host: string;
  readonly port: number;
  private readonly idle: Conn[] = [];
  private closed = false;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  /** Throws on a request that cannot be written (invalid target or header value). */
  dispatch(opts: H1Request, handler: H1Handler): boolean {
    const head = requestHead(opts);
    const call = new H1Call(this, opts, head, handler);
    handler.onRequestStart?.(call, {});
    if (!call.aborted) this.connection().start(call);
    return true;
  }

  /** The most recently used idle connection still fresh, else a new one. */
  connection(): Conn {
    let now = 0;
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (c.expires > (now ||= Date.now()) && !c.sock.destroyed) return c;
      c.sock.destroy();
    }
    return new Conn(this);
  }

  release(c: Conn, keepAliveMs: number): void {
    if (this.closed) return void c.sock.destroy();
    c.expires = Date.now() + keepAliveMs;
    c.sock.unref();
    this.idle.push(c);
  }

  forget(c: Conn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Graceful: idle sockets close now, busy ones when their response ends. */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.sock.destroy();
    return Promise.resolve();
  }
}

/** One request on one connection; also the controller handed to the handler (abort, pause, resume). */
export class H1Call {
  readonly client: H1Client;
  readonly opts: H1Request;
  readonly head: string;
  readonly handler: H1Handler;
  conn?: Conn;
  aborted = false;
  paused = false;
  done = false;
  /** Response headers came. */
  started = false;
  /** The request (head and body) is fully written. */
  sent = false;

  constructor(client: H1Client, opts: H1Request, head: string, handler: H1Handler) {
    this.client = client;
    this.opts = opts;
    this.head = head;
    this.handler = handler;
  }

  abort(reason?: Error): void {
    if (this.done) return;
    this.aborted = true;
    this.fail(reason ?? codedError('request aborted', 'UND_ERR_ABORTED'));
  }

  pause(): void {
    this.paused = true;
    this.conn?.sock.pause();
  }

  resume(): void {
    this.paused = false;
    this.conn?.sock.resume();
  }

  /**
   * Ends the call with an error. Never retried here (as undici): a reset is the route's retry
   * policy's business; idle sockets retire before the backend's keep-alive timeout instead.
   */
  fail(err: Error): void {
    if (this.done) return;
    const c = this.conn;
    if (c !== undefined) {
      c.call = undefined;
      c.sock.destroy();
      this.conn = undefined;
    }
    const body = this.opts.body;
    this.done = true;
    if (isStream(body)) body.off('data', onBodyData).off('end', onBodyEnd).off('error', onBodyError);
    this.handler.onResponseError?.(this, err);
  }
}

/** One keep-alive socket with its response parser. */
class Conn {
  readonly client: H1Client;
  readonly sock: net.Socket;
  readonly parser: NativeParser;
  call?: H1Call;
  connected = false;
  expires = 0;
  keepAlive = true;
  keepAliveMs = IDLE_MS;
  /** Status of the message being parsed (1xx interim answers are skipped). */
  status = 0;
  /** Headers delivered in pieces (many headers), then the trailers. */
  pending: string[] | undefined;
  chunked = false;
  /** The native parser has begun a message it has not completed: its next bytes must go to it. */
  inMessage = false;
  connectTimer: NodeJS.Timeout | undefined;

  constructor(client: H1Client) {
    this.client = client;
    // Reads land in one shared buffer (see onSocketRead) instead of a fresh 64 KiB allocation
    // pushed through a Readable per read.
    const sock = net.connect({ host: client.host, port: client.port, noDelay: true, onread: { buffer: READ_BUFFER, callback: onSocketRead } });
    this.sock = sock;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    parser.conn = this;
    parser[HTTPParser.kOnMessageBegin] = onMessageBegin;
    parser[HTTPParser.kOnHeaders] = onHeaders;
    parser[HTTPParser.kOnHeadersComplete] = onHeadersComplete;
    parser[HTTPParser.kOnBody] = onBody;
    parser[HTTPParser.kOnMessageComplete] = onMessageComplete;
    parser[HTTPParser.kOnExecute] = noop;
    this.parser = parser;
    (sock as SocketWithConn).conn = this;
    // A plain timer, not sock.setTimeout: that one stays attached to the socket and is refreshed
    // on every read and write for the connection's whole life.
    this.connectTimer = setTimeout(onConnectTimeout, CONNECT_TIMEOUT_MS, this).unref();
    sock.once('connect', onConnect);
    sock.on('end', onSocketEnd);
    sock.on('error', onSocketError);
    sock.on('close', onSocketClose);
    sock.on('drain', onSocketDrain);
  }

  start(call: H1Call): void {
    this.call = call;
    call.conn = this;
    this.sock.ref();
    if (call.paused) this.sock.pause();
    const body = call.opts.body;
    if (body === null || body === undefined) {
      this.sock.write(call.head + '\r\n', 'latin1');
      call.sent = true;
    } else if (typeof body === 'string' || body instanceof Buffer) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      this.sock.cork();
      this.sock.write(`${call.head}content-length: ${buf.length}\r\n\r\n`, 'latin1');
      this.sock.write(buf);
      this.sock.uncork();
      call.sent = true;
    } else {
      this.chunked = call.opts.headers['content-length'] === undefined;
      this.sock.write(call.head + (this.chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n'), 'latin1');
      const stream = body as Readable & { [kCall]?: H1Call };
      stream[kCall] = call;
      stream.on('data', onBodyData);
      stream.once('end', onBodyEnd);
      stream.once('error', onBodyError);
    }
  }

  /** The response ended: back to the pool when the connection may carry another request. */
  finishCall(call: H1Call): void {
    this.call = undefined;
    call.conn = undefined;
    call.done = true;
    const body = call.opts.body;
    if (isStream(body) && !call.sent) {
      // answered before the request body was all sent (e.g. 413): the connection cannot be reused
      body.off('data', onBodyData).off('end', onBodyEnd).off('error', onBodyError);
      this.keepAlive = false;
    }
    if (this.keepAlive && !this.sock.destroyed) {
      if (call.paused) this.sock.resume();
      this.client.release(this, this.keepAliveMs);
    } else {
      this.sock.destroy();
    }
  }
}

type SocketWithConn = net.Socket & { conn: Conn };
const kCall = Symbol('h1call');

function noop(): void {}

function isStream(body: H1Request['body']): body is Readable {
  return body !== null && body !== undefined && typeof body !== 'string' && !(body instanceof Buffer);
}

/** Request line and headers, without the final empty line. */
function requestHead(opts: H1Request): string {
  const path = opts.path;
  if (path === '' || INVALID_PATH.test(path)) throw codedError('invalid request path', 'UND_ERR_INVALID_ARG');
  let head = `${opts.method} ${path} HTTP/1.1\r\n`;
  const h = opts.headers;
  const fixedLength = opts.body !== null && opts.body !== undefined && !isStream(opts.body);
  for (const k in h) {
    const v = h[k];
    if (v === undefined || (fixedLength && k === 'content-length')) continue;
    if (typeof v === 'string') {
      if (INVALID_VALUE.test(v)) throw codedError(`invalid ${k} header`, 'UND_ERR_INVALID_ARG');
      head += `${k}: ${v}\r\n`;
    } else {
      for (let i = 0; i < v.length; i++) {
        if (INVALID_VALUE.test(v[i])) throw codedError(`invalid ${k} header`, 'UND_ERR_INVALID_ARG');
        head += `${k}: ${v[i]}\r\n`;
      }
    }
  }
  // As undici: a body-less POST/PUT/PATCH says so, or a backend may wait for a body.
  if ((opts.body === null || opts.body === undefined) && h['content-length'] === undefined && WITH_PAYLOAD.has(opts.method)) head += 'content-length: 0\r\n';
  return head;
}

// ---- request body (stream) --------------------------------------------------------------------

function onBodyData(this: Readable & { [kCall]?: H1Call }, chunk: Buffer | string): void {
  const call = this[kCall]!;
  const c = call.conn;
  if (c === undefined) return;
  const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  if (buf.length === 0) return;
  let ok: boolean;
  if (c.chunked) {
    c.sock.cork();
    c.sock.write(`${buf.length.toString(16)}\r\n`, 'latin1');
    c.sock.write(buf);
    ok = c.sock.write('\r\n', 'latin1');
    c.sock.uncork();
  } else {
    ok = c.sock.write(buf);
  }
  if (!ok) this.pause();
}

function onBodyEnd(this: Readable & { [kCall]?: H1Call }): void {
  const call = this[kCall]!;
  this.off('data', onBodyData).off('error', onBodyError);
  const c = call.conn;
  call.sent = true;
  if (c !== undefined && c.chunked) c.sock.write('0\r\n\r\n', 'latin1');
}

function onBodyError(this: Readable & { [kCall]?: H1Call }, err: Error): void {
  this[kCall]!.fail(err);
}

function onSocketDrain(this: SocketWithConn): void {
  const body = this.conn.call?.opts.body;
  if (isStream(body)) body.resume();
}

// ---- socket -------------------------------------------------------------------------------

function onConnect(this: SocketWithConn): void {
  this.conn.connected = true;
  clearTimeout(this.conn.connectTimer);
}

function onConnectTimeout(c: Conn): void {
  if (c.connected || c.sock.destroyed) return;
  const err = codedError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT');
  if (c.call !== undefined) c.call.fail(err);
  c.sock.destroy();
}

/**
 * Every backend socket reads into this buffer, and each read is handled before the next one can
 * happen: nothing may keep a view of it (the fast path copies the body it hands on; llhttp copies
 * what it reports).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Returns true: net stops reading only on false (backpressure goes through pause() instead). */
function onSocketRead(this: SocketWithConn, n: number): boolean {
  const c = this.conn;
  const data = READ_BUFFER.subarray(0, n);
  if (!c.inMessage && c.call !== undefined && fastResponse(c, c.call, data)) return true;
  const r = c.parser.execute(data);
  if (r instanceof Error) {
    if (c.call !== undefined) c.call.fail(r);
    this.destroy();
  }
  return true;
}

function onSocketEnd(this: SocketWithConn): void {
  const c = this.conn;
  // A body delimited by the connection's end completes now.
  if (c.call !== undefined) c.parser.finish();
  if (c.call !== undefined) c.call.fail(codedError('other side closed', 'UND_ERR_SOCKET'));
  this.destroy();
}

function onSocketError(this: SocketWithConn, err: Error): void {
  const c = this.conn;
  if (c.call !== undefined) c.call.fail(err);
}

function onSocketClose(this: SocketWithConn): void {
  const c = this.conn;
  clearTimeout(c.connectTimer);
  c.client.forget(c);
  if (c.call !== undefined) c.call.fail(codedError('socket closed', 'UND_ERR_SOCKET'));
  c.parser.close();
}

// ---- response parser callbacks (this = the native parser) -------------------------------------

function onMessageBegin(this: NativeParser): void {
  this.conn!.pending = undefined;
  this.conn!.inMessage = true;
}

function onHeaders(this: NativeParser, headers: string[]): void {
  const c = this.conn!;
  c.pending = c.pending === undefined ? headers : c.pending.concat(headers);
}

function onHeadersComplete(
  this: NativeParser, _major: number, _minor: number, raw: string[] | undefined, _method: unknown, _url: unknown,
  status: number, statusMessage: string, _upgrade: boolean, keepAlive: boolean,
): number {
  const c = this.conn!;
  const call = c.call;
  c.status = status;
  if (call === undefined || call.done) {
    c.sock.destroy();
    return 1;
  }
  if (status < 200) return 0; // interim (100 Continue, 103 Early Hints): the real answer follows
  const list = raw ?? c.pending ?? [];
  c.pending = undefined;
  const headers: Headers = {};
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i].toLowerCase();
    const prev = headers[k];
    headers[k] = prev === undefined ? list[i + 1] : typeof prev === 'string' ? [prev, list[i + 1]] : [...prev, list[i + 1]];
  }
  c.keepAlive = keepAlive;
  c.keepAliveMs = keepAliveHint(headers['keep-alive']);
  call.started = true;
  call.handler.onResponseStart?.(call, status, headers, statusMessage);
  return call.opts.method === 'HEAD' ? 1 : 0;
}

function onBody(this: NativeParser, chunk: Buffer): void {
  const call = this.conn!.call;
  if (call !== undefined && !call.done && call.started) call.handler.onResponseData?.(call, chunk);
}

function onMessageComplete(this: NativeParser): void {
  const c = this.conn!;
  c.inMessage = false;
  const call = c.call;
  if (call === undefined || call.done || c.status < 200) return;
  const trailers: Headers = {};
  const t = c.pending;
  c.pending = undefined;
  if (t !== undefined) for (let i = 0; i < t.length; i += 2) trailers[t[i].toLowerCase()] = t[i + 1];
  c.finishCall(call);
  call.handler.onResponseEnd?.(call, trailers);
}

/** Idle lifetime: the backend's `Keep-Alive: timeout=N` less a second (as undici), capped at IDLE_MS. */
let lastHint = '';
let lastHintMs = IDLE_MS;

function keepAliveHint(v: string | string[] | undefined): number {
  if (typeof v !== 'string') return IDLE_MS;
  // A backend sends the same value every time: remember the last one instead of matching again.
  if (v === lastHint) return lastHintMs;
  lastHint = v;
  lastHintMs = parseKeepAlive(v);
  return lastHintMs;
}

function parseKeepAlive(v: string): number {
  const m = /timeout=(\d+)/i.exec(v);
  if (m === null) return IDLE_MS;
  const ms = Number(m[1]) * 1000 - 1000;
  return ms <= 0 ? 0 : Math.min(ms, IDLE_MS);
}

// ---- fast path: a whole small response in one read ----------------------------------------------

/**
 * The common answer of a keep-alive backend, a complete response with a Content-Length body that
 * arrives in one read, is parsed here in JavaScript and the native parser never sees it. Why:
 * every call from llhttp back into JavaScript (message begin, headers, body, message complete,
 * execute) goes through node's MakeCallback; for a small response those crossings cost more than
 * parsing the ~150 bytes in JavaScript (the native parse was ~12 % of the proxy's busy time).
 *
 * Only a response that is unambiguous is taken: HTTP/1.1, status 200-599 other than 204/304, a
 * head that matches HEAD_LINES exactly (token names, no folding, no control characters), one plain
 * decimal Content-Length that the rest of the read matches to the byte, no Transfer-Encoding, no
 * Connection header other than keep-alive, not an answer to HEAD. Anything else (split reads,
 * chunked bodies, 1xx, odd headers) returns false before any state changed, and the native
 * parser takes the bytes as before, errors included.
 */
const FAST_MAX = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');
/** Status line and header lines (each with its CRLF), nothing else. */
const HEAD_LINES = /^HTTP\/1\.1 [2-5]\d\d [\t\x20-\x7e\x80-\xff]*\r\n(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/;

function fastResponse(c: Conn, call: H1Call, data: Buffer): boolean {
  const len = data.length;
  if (len > FAST_MAX || call.done || call.opts.method === 'HEAD') return false;
  const end = data.indexOf(CRLF2);
  if (end < 0) return false;
  const head = data.toString('latin1', 0, end + 2);
  if (!HEAD_LINES.test(head)) return false;
  const status = (head.charCodeAt(9) - 48) * 100 + (head.charCodeAt(10) - 48) * 10 + (head.charCodeAt(11) - 48);
  if (status === 204 || status === 304) return false;
  const headers: Headers = {};
  let pos = head.indexOf('\r\n') + 2;
  while (pos < head.length) {
    const eol = head.indexOf('\r\n', pos);
    const colon = head.indexOf(':', pos);
    const k = head.slice(pos, colon).toLowerCase();
    const v = owsTrimmed(head, colon + 1, eol);
    const prev = headers[k];
    headers[k] = prev === undefined ? v : typeof prev === 'string' ? [prev, v] : [...prev, v];
    pos = eol + 2;
  }
  const cl = headers['content-length'];
  if (typeof cl !== 'string' || !DIGITS.test(cl) || headers['transfer-encoding'] !== undefined) return false;
  const conn = headers.connection;
  if (conn !== undefined && (typeof conn !== 'string' || conn.toLowerCase() !== 'keep-alive')) return false;
  const bodyStart = end + 4;
  if (len - bodyStart !== Number(cl)) return false;

  // What onMessageBegin, onHeadersComplete, onBody and onMessageComplete do for a native parse.
  c.pending = undefined;
  c.status = status;
  c.keepAlive = true;
  c.keepAliveMs = keepAliveHint(headers['keep-alive']);
  call.started = true;
  call.handler.onResponseStart?.(call, status, headers, head.slice(13, head.indexOf('\r\n')));
  if (call.done || c.call !== call) return true; // aborted while starting: the socket is gone
  if (bodyStart < len) call.handler.onResponseData?.(call, Buffer.from(data.subarray(bodyStart)));
  if (call.done || c.call !== call) return true;
  c.finishCall(call);
  call.handler.onResponseEnd?.(call, {});
  return true;
}

const DIGITS = /^\d{1,15}$/;

/** head[from, to) without the optional whitespace around a header value (spaces and tabs only). */
function owsTrimmed(head: string, from: number, to: number): string {
  while (from < to && (head.charCodeAt(from) === 32 || head.charCodeAt(from) === 9)) from++;
  while (to > from && (head.charCodeAt(to - 1) === 32 || head.charCodeAt(to - 1) === 9)) to--;
  return head.slice(from, to);
}
