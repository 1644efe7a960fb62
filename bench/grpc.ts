// gRPC unary calls per second through Portico (GRPCRoute to an h2c Service port), nginx
// (grpc_pass) and HAProxy (h2 both sides), against a @grpc/grpc-js backend, all cleartext (h2c).
//
// Method: h2load sends the calls (POST /bench.Echo/Ping, content-type application/grpc, te:
// trailers, one gRPC-framed 16-byte message as the body), `connections × streams` in flight.
// h2load only sees HTTP status 200, not grpc-status, so before the load every target answers one
// call made with the grpc-js client, checked byte for byte; a target that fails it is left out.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { h2load } from './lib/wrk.ts';
import { figureTable, interleaved, porticoRatios, type Figure } from './lib/compare.ts';
import { freePort, start, waitForPort } from './lib/proc.ts';
import { NODE, ROOT, startTargets, stopAll, type Running, type Target } from './lib/targets.ts';
import { echoService, PING_PATH } from './backends/grpc.ts';

export interface GrpcResult { figures: Figure[]; connections: number; streams: number; skipped: string[] }

const MESSAGE = Buffer.from('portico-bench-16');

/** The message in gRPC's length-prefixed framing: flag byte (0: not compressed), 4-byte length, bytes. */
function framed(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** One unary call with the grpc-js client; resolves with an error message, or undefined when the echo came back intact. */
async function check(port: number): Promise<string | undefined> {
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      (client as any).Ping(MESSAGE, { deadline: Date.now() + 10000 }, (err: Error | null, res: Buffer) => (err ? reject(err) : resolve(res)));
    });
    return reply.equals(MESSAGE) ? undefined : `wrong reply ${JSON.stringify(reply.toString())}`;
  } catch (e) {
    return (e as Error).message;
  } finally {
    client.close();
  }
}

export async function runGrpc(opts: { targets: Target[]; rounds: number; seconds: number; connections?: number; streams?: number }): Promise<GrpcResult> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-grpc-'));
  const connections = opts.connections ?? 10;
  const streams = opts.streams ?? 20;
  const body = join(dir, 'ping.bin');
  writeFileSync(body, framed(MESSAGE));
  const backendPort = await freePort();
  const be = start(NODE, [join(ROOT, 'bench/backends/grpc.ts'), String(backendPort)]);
  await waitForPort(backendPort);
  const started = await startTargets(opts.targets, { frontend: 'grpc', backendPort, dir });
  const skipped: string[] = [];
  const running: Running[] = [];
  try {
    for (const r of started) {
      const err = await check(r.port);
      if (err) skipped.push(`${r.target}: ${err}`);
      else running.push(r);
    }
    const figures = await interleaved(running, opts.rounds, (r, warm) =>
      h2load(`http://127.0.0.1:${r.port}${PING_PATH}`, {
        connections, streams, seconds: warm ? 1 : opts.seconds, data: body,
        headers: ['content-type: application/grpc', 'te: trailers'],
      }));
    return { figures, connections, streams, skipped };
  } finally {
    await stopAll(started);
    await be.stop();
  }
}

export function grpcRatios(r: GrpcResult): Record<string, number> {
  return porticoRatios(r.figures, 'grpc');
}

export function printGrpc(r: GrpcResult): string {
  return `\n### gRPC unary calls (h2c), @grpc/grpc-js backend, h2load ${r.connections} connections × ${r.streams} streams of gRPC-framed POSTs (each target first checked with one grpc-js call)\n\n` +
    figureTable(r.figures, { rateLabel: 'calls/s', latency: 'mean-max' }) +
    (r.skipped.length ? `\n\nleft out (failed the grpc-js check): ${r.skipped.join('; ')}` : '');
}
