// A real gRPC backend (@grpc/grpc-js) for data plane tests, run as its own process like
// echo-backend.ts. Messages are JSON (our own codec: the data plane never looks inside gRPC
// frames, so no .proto is needed); paths, framing, metadata, trailers and status are real gRPC.
//
// Services:
//   gateway_api_conformance.echo_basic.grpcecho.GrpcEcho: Echo, EchoTwo (EchoThree is left
//     unimplemented), the service of the upstream conformance echo server, answering who served
//     the call (name, fully qualified method, authority, metadata).
//   portico.test.Echo:
//     Unary        {delayMs?, fail?: {code, details}, sendHeadersFirst?} → Reply
//     ServerStream {count, intervalMs?, failAfter?: {code, details}} → count × {i, name}
//     ClientStream stream of {i} → {received, name}
//     Bidi         stream of {i} → {i, name} for each
//     Stats        {} → {cancelled}: calls the client (or the gateway) cancelled so far
//   Every reply sends initial metadata `x-echo-initial: <name>` and trailers
//   `x-echo-trailer: <name>` and `x-echo-bin-bin: <bytes>`; `x-echo-request` metadata from the
//   client is echoed back as the trailer `x-echo-request-trailer`.
//
// Run directly: node test/support/grpc-echo.ts NAME [TLS_JSON] → prints {"port":..}. TLS_JSON:
// {certPem, keyPem, caPem?} makes it a TLS server (asking for client certificates when caPem is set).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';

export const CONFORMANCE_SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';
export const TEST_SERVICE = 'portico.test.Echo';

export interface Reply {
  name: string;
  method: string;
  authority: string;
  metadata: Record<string, string>;
  /** Subject CN of the client certificate (TLS servers with caPem). */
  clientCN?: string;
}

const codec = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v ?? {})),
  deserialize: (b: Buffer): any => (b.length === 0 ? {} : JSON.parse(b.toString())),
};

function method(service: string, name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<any, any> {
  return {
    path: `/${service}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: codec.serialize,
    requestDeserialize: codec.deserialize,
    responseSerialize: codec.serialize,
    responseDeserialize: codec.deserialize,
    originalName: name,
  };
}

export const conformanceDefinition: grpc.ServiceDefinition = {
  Echo: method(CONFORMANCE_SERVICE, 'Echo', false, false),
  EchoTwo: method(CONFORMANCE_SERVICE, 'EchoTwo', false, false),
  EchoThree: method(CONFORMANCE_SERVICE, 'EchoThree', false, false),
};

export const testDefinition: grpc.ServiceDefinition = {
  Unary: method(TEST_SERVICE, 'Unary', false, false),
  ServerStream: method(TEST_SERVICE, 'ServerStream', false, true),
  ClientStream: method(TEST_SERVICE, 'ClientStream', true, false),
  Bidi: method(TEST_SERVICE, 'Bidi', true, true),
  Stats: method(TEST_SERVICE, 'Stats', false, false),
};

/** Client classes for both services (grpc-js generic clients over our JSON codec). */
export const ConformanceClient = grpc.makeGenericClientConstructor(conformanceDefinition, 'GrpcEcho');
export const TestClient = grpc.makeGenericClientConstructor(testDefinition, 'Echo');

export interface GrpcEcho {
  name: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a gRPC echo backend in a child process. */
export async function startGrpcEcho(name: string, tls?: { certPem: string; keyPem: string; caPem?: string }): Promise<GrpcEcho> {
  const args = [fileURLToPath(import.meta.url), name, ...(tls ? [JSON.stringify(tls)] : [])];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`grpc echo exited ${code}`)));
  });
  const { port } = JSON.parse(first) as { port: number };
  return {
    name,
    port,
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill();
    }),
  };
}

/** Promise wrapper for a unary call; resolves with the reply, initial metadata and trailers, or the error. */
export function unary(
  client: grpc.Client, name: string, request: unknown, opts: { metadata?: Record<string, string>; deadlineMs?: number } = {},
): Promise<{ reply?: any; error?: grpc.ServiceError; headers?: grpc.Metadata; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
    const out: { reply?: any; error?: grpc.ServiceError; headers?: grpc.Metadata; trailers?: grpc.Metadata } = {};
    const callOpts: grpc.CallOptions = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
    const call = (client as any)[name](request, md, callOpts, (err: grpc.ServiceError | null, reply: unknown) => {
      if (err) out.error = err;
      else out.reply = reply;
    }) as grpc.ClientUnaryCall;
    call.on('metadata', (m: grpc.Metadata) => { out.headers = m; });
    call.on('status', (s: grpc.StatusObject) => {
      out.trailers = s.metadata;
      // the callback runs before 'status'; resolve on the next tick to have both
      setImmediate(() => resolve(out));
    });
  });
}

function serve(name: string, tlsJson?: string): void {
  let cancelled = 0;
  const describe = (call: grpc.ServerUnaryCall<any, any> | grpc.ServerReadableStream<any, any> | grpc.ServerWritableStream<any, any> | grpc.ServerDuplexStream<any, any>): Reply => {
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
    const reply: Reply = { name, method: call.getPath(), authority: call.getHost(), metadata };
    const peer = (call as unknown as { getAuthContext?: () => { sslPeerCertificate?: { subject?: { CN?: string } } } }).getAuthContext?.();
    const cn = peer?.sslPeerCertificate?.subject?.CN;
    if (cn) reply.clientCN = cn;
    return reply;
  };
  const initial = () => {
    const m = new grpc.Metadata();
    m.set('x-echo-initial', name);
    return m;
  };
  const trailers = (call: { metadata: grpc.Metadata }) => {
    const m = new grpc.Metadata();
    m.set('x-echo-trailer', name);
    m.set('x-echo-bin-bin', Buffer.from([0, 1, 2, 255]));
    const req = call.metadata.get('x-echo-request')[0];
    if (req !== undefined) m.set('x-echo-request-trailer', String(req));
    return m;
  };
  const track = (call: { on(ev: 'cancelled', f: () => void): unknown }) => call.on('cancelled', () => { cancelled++; });
  const unaryEcho: grpc.handleUnaryCall<any, any> = (call, cb) => {
    track(call);
    call.sendMetadata(initial());
    cb(null, describe(call), trailers(call));
  };
  const server = new grpc.Server();
  server.addService(conformanceDefinition, { Echo: unaryEcho, EchoTwo: unaryEcho });
  server.addService(testDefinition, {
    Unary: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      track(call);
      const req = call.request as { delayMs?: number; fail?: { code: number; details: string }; sendHeadersFirst?: boolean };
      if (req.sendHeadersFirst) call.sendMetadata(initial());
      const answer = () => {
        if (call.cancelled) return;
        if (!req.sendHeadersFirst) call.sendMetadata(initial());
        if (req.fail) cb({ code: req.fail.code, details: req.fail.details, metadata: trailers(call) });
        else cb(null, describe(call), trailers(call));
      };
      if (req.delayMs) setTimeout(answer, req.delayMs);
      else answer();
    },
    ServerStream: (call: grpc.ServerWritableStream<any, any>) => {
      track(call);
      const req = call.request as { count: number; intervalMs?: number; failAfter?: { code: number; details: string } };
      call.sendMetadata(initial());
      let i = 0;
      const next = () => {
        if (call.cancelled) return;
        if (i < req.count) {
          call.write({ i: i++, name });
          if (req.intervalMs) setTimeout(next, req.intervalMs);
          else setImmediate(next);
          return;
        }
        if (req.failAfter) call.emit('error', { code: req.failAfter.code, details: req.failAfter.details, metadata: trailers(call) });
        else call.end(trailers(call));
      };
      next();
    },
    ClientStream: (call: grpc.ServerReadableStream<any, any>, cb: grpc.sendUnaryData<any>) => {
      track(call);
      let received = 0;
      call.on('data', () => { received++; });
      call.on('end', () => {
        call.sendMetadata(initial());
        cb(null, { ...describe(call), received }, trailers(call));
      });
    },
    Bidi: (call: grpc.ServerDuplexStream<any, any>) => {
      track(call);
      call.sendMetadata(initial());
      call.on('data', (m: { i: number }) => call.write({ i: m.i, name }));
      call.on('end', () => call.end(trailers(call)));
    },
    Stats: (_call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => cb(null, { cancelled, name }),
  });
  let creds = grpc.ServerCredentials.createInsecure();
  if (tlsJson) {
    const t = JSON.parse(tlsJson) as { certPem: string; keyPem: string; caPem?: string };
    creds = grpc.ServerCredentials.createSsl(t.caPem ? Buffer.from(t.caPem) : null, [{ cert_chain: Buffer.from(t.certPem), private_key: Buffer.from(t.keyPem) }], t.caPem !== undefined);
  }
  server.bindAsync('127.0.0.1:0', creds, (err, port) => {
    if (err) throw err;
    process.stdout.write(JSON.stringify({ port }) + '\n');
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve(process.argv[2] ?? 'grpc', process.argv[3]);
