// A small echo backend for data plane tests, run as its own process (like the conformance
// echo-basic): answers every request with JSON naming the backend and echoing method, path,
// host, headers and protocol. Extras: /status/NNN, ?delay=ms, /retry?uuid=&succeedAfter=N
// [&responseCode=503] (fails by TCP reset without responseCode), ?size=N (N bytes of 'z'), ?stall=ms (headers, then the body's end after ms), /ws WebSocket echo,
// X-Echo-Set-Header "Name:Value,...", X-Echo-Trailer "name:value" (HTTP/2: sent as a trailer), and GET /__log listing the requests seen.
//
// Run directly: node test/support/echo-backend.ts NAME → prints {"port":..,"h2cPort":..}.
import http from 'node:http';
import http2 from 'node:http2';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { WebSocketServer } from 'ws';

export interface EchoBody {
  name: string;
  method: string;
  path: string;
  host: string;
  proto: string;
  headers: Record<string, string | string[]>;
  body: string;
}

export interface EchoBackend {
  name: string;
  port: number;
  h2cPort: number;
  log(): Promise<{ method: string; path: string; headers: Record<string, string | string[]> }[]>;
  close(): Promise<void>;
}

/** Starts an echo backend in a child process. */
export async function startEcho(name: string): Promise<EchoBackend> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`echo backend exited ${code}`)));
  });
  const { port, h2cPort } = JSON.parse(first) as { port: number; h2cPort: number };
  return {
    name,
    port,
    h2cPort,
    async log() {
      const res = await fetch(`http://127.0.0.1:${port}/__log`);
      return (await res.json()) as { method: string; path: string; headers: Record<string, string | string[]> }[];
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}

function serve(name: string): void {
  const seen: { method: string; path: string; headers: Record<string, string | string[]> }[] = [];
  const attempts = new Map<string, number>();

  const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (url.pathname === '/__log') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(seen));
        return;
      }
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !k.startsWith(':')) headers[k] = v;
      seen.push({ method: req.method ?? '', path: req.url ?? '', headers });
      const reply = () => {
        const status = /^\/status\/(\d{3})(\/.*)?$/.exec(url.pathname);
        if (status) {
          res.statusCode = Number(status[1]);
          res.end();
          return;
        }
        if (url.pathname.includes('/retry')) {
          const uuid = url.searchParams.get('uuid') ?? '';
          const n = (attempts.get(uuid) ?? 0) + 1;
          attempts.set(uuid, n);
          if (n <= Number(url.searchParams.get('succeedAfter') ?? 0)) {
            const code = url.searchParams.get('responseCode');
            if (code === null) {
              const sock = req.socket as any;
              if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
              else sock.destroy();
              return;
            }
            res.statusCode = Number(code);
            res.end();
            return;
          }
        }
        const stall = Number(url.searchParams.get('stall') ?? 0);
        if (stall > 0) {
          // headers and a first chunk now, the rest after `stall` ms
          const out = res as http.ServerResponse;
          out.writeHead(200, { 'content-type': 'text/plain' });
          out.write('start;');
          setTimeout(() => res.end('end'), stall);
          return;
        }
        const size = Number(url.searchParams.get('size') ?? 0);
        if (size > 0) {
          // a large body, written in 64 KiB pieces with backpressure
          res.setHeader('content-type', 'application/octet-stream');
          let left = size;
          const piece = Buffer.alloc(65536, 'z');
          const more = () => {
            while (left > 0) {
              const n = Math.min(left, piece.length);
              left -= n;
              if (!(res as http.ServerResponse).write(piece.subarray(0, n))) return void res.once('drain', more);
            }
            res.end();
          };
          more();
          return;
        }
        const set = req.headers['x-echo-set-header'];
        if (typeof set === 'string') {
          for (const pair of set.split(',')) {
            const i = pair.indexOf(':');
            if (i > 0) res.setHeader(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
          }
        }
        const body: EchoBody = {
          name,
          method: req.method ?? '',
          path: req.url ?? '',
          host: (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '',
          proto: `HTTP/${req.httpVersion}`,
          headers,
          body: Buffer.concat(chunks).toString(),
        };
        res.setHeader('content-type', 'application/json');
        res.setHeader('x-backend', name);
        const trailer = req.headers['x-echo-trailer'];
        if (typeof trailer === 'string' && req.httpVersionMajor === 2) {
          const i = trailer.indexOf(':');
          (res as http2.Http2ServerResponse).addTrailers({ [trailer.slice(0, i)]: trailer.slice(i + 1) });
        }
        res.end(JSON.stringify(body));
      };
      const delay = Number(url.searchParams.get('delay') ?? 0);
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    });
  };

  const h1 = http.createServer(handler);
  const wss = new WebSocketServer({ noServer: true });
  h1.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, binary) => ws.send(binary ? data : `${name}:${data.toString()}`));
    });
  });
  const h2c = http2.createServer(handler);
  h1.listen(0, '127.0.0.1', () => {
    h2c.listen(0, '127.0.0.1', () => {
      const port = (h1.address() as { port: number }).port;
      const h2cPort = (h2c.address() as { port: number }).port;
      process.stdout.write(JSON.stringify({ port, h2cPort }) + '\n');
    });
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve(process.argv[2] ?? 'echo');
