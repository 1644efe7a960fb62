// The gRPC benchmark backend: @grpc/grpc-js serving one unary method, /bench.Echo/Ping, that
// answers every request with the bytes it got. Messages are raw bytes (identity codec), so no
// .proto is needed: the proxies only see gRPC framing over HTTP/2, which is what they carry.
import * as grpc from '@grpc/grpc-js';

export const PING_PATH = '/bench.Echo/Ping';

const identity = (b: Buffer) => b;
export const echoService: grpc.ServiceDefinition = {
  Ping: { path: PING_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 9300);
  const server = new grpc.Server();
  server.addService(echoService, { Ping: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
  });
}
