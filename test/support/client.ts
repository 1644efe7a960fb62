// Test clients: plain HTTP/1.1 (node:http, fresh connection per call unless an agent is given),
// HTTP/2 (cleartext or TLS) and raw sockets, all answering { status, headers, body, json }.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EchoBody } from './echo-backend.ts';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json(): EchoBody;
}

export interface RequestOptions {
  method?: string;
  host?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: http.Agent | false;
}

export function request(port: number, path: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.host !== undefined) headers.host = o.host;
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(reply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString())));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export function h2request(session: http2.ClientHttp2Session, path: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = { ':path': path, ':method': o.method ?? 'GET', ...(o.headers ?? {}) };
    if (o.host !== undefined) headers[':authority'] = o.host;
    const st = session.request(headers);
    let status = 0;
    let h: http.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    st.on('response', (rh) => { status = Number(rh[':status']); h = rh as http.IncomingHttpHeaders; });
    st.on('data', (c: Buffer) => chunks.push(c));
    st.on('end', () => resolve(reply(status, h, Buffer.concat(chunks).toString())));
    st.on('error', reject);
    st.end(o.body);
  });
}

/** Sends raw bytes and returns everything the server answers until it closes (or `waitMs`). */
export function raw(port: number, data: string, waitMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const t = setTimeout(() => sock.destroy(), waitMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('close', () => { clearTimeout(t); resolve(Buffer.concat(chunks).toString()); });
    sock.on('error', reject);
    sock.write(data);
  });
}

function reply(status: number, headers: http.IncomingHttpHeaders, body: string): Reply {
  return { status, headers, body, json: () => JSON.parse(body) as EchoBody };
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

let nextInSlice = 0;
let ownSlice: number | undefined;
const SLICES = 127; // 20000 + 127 × 100 stays below the ephemeral range

/**
 * A port that was free a moment ago (listeners in the IR need fixed ports). Taken below the
 * kernel's ephemeral range (32768+), where listen(0) and outgoing connections take theirs, and
 * from a slice of 100 ports this process holds alone, so that test files running in parallel
 * never race for one port between choosing it and binding it.
 */
export async function freePort(): Promise<number> {
  const slice = claimSlice();
  for (let tries = 0; tries < 100; tries++) {
    const port = slice + (nextInSlice++ % 100);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${slice}-${slice + 99}`);
}

/**
 * This process's slice. Slices are claimed with a lock file each (O_EXCL, holding the pid), so two
 * live processes never share one: picking by pid alone gave processes whose pids differ by a
 * multiple of the slice count the same slice, and the same ports in the same order.
 */
function claimSlice(): number {
  if (ownSlice !== undefined) return ownSlice;
  const dir = join(tmpdir(), 'portico-test-ports');
  mkdirSync(dir, { recursive: true });
  const first = process.pid % SLICES;
  for (let i = 0; i < SLICES; i++) {
    const n = (first + i) % SLICES;
    const file = join(dir, String(n));
    if (!tryLock(file)) {
      // Held by a live process (or being written: empty), skip it; left by a dead one, take it.
      const owner = Number(readFileSafe(file));
      if (!owner || alive(owner)) continue;
      rmSync(file, { force: true });
      if (!tryLock(file)) continue;
    }
    process.once('exit', () => rmSync(file, { force: true }));
    return (ownSlice = 20000 + n * 100);
  }
  return (ownSlice = 20000 + first * 100); // every slice held by a live process: share, as before
}

function tryLock(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
