// A small gRPC ext_authz service (Envoy's envoy.service.auth.v3.Authorization/Check, messages
// from test/fixtures/ext_authz.proto) for ExternalAuth tests that need one as a plain service:
// `authorization: Bearer good` is allowed and gets `x-auth-user: alice` added to the request;
// anything else is denied with 401 and `www-authenticate: Bearer`. It runs in the test process on
// a real socket (127.0.0.1, ephemeral port). test/grpc-extauth.test.ts has its own, richer one.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export interface Authz {
  port: number;
  /** The headers of every request checked, in order. */
  checked: Record<string, string>[];
  close(): void;
}

const opt = (key: string, value: string) => ({ header: { key, value }, append: { value: false } });

export async function startAuthz(): Promise<Authz> {
  const def = protoLoader.loadSync(fileURLToPath(new URL('../fixtures/ext_authz.proto', import.meta.url)), { keepCase: false, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const server = new grpc.Server();
  const checked: Record<string, string>[] = [];
  server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
    Check: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
      const headers = call.request.attributes.request.http.headers as Record<string, string>;
      checked.push(headers);
      if (headers.authorization === 'Bearer good') {
        return cb(null, { status: { code: 0 }, okResponse: { headers: [opt('x-auth-user', 'alice')] } });
      }
      cb(null, { status: { code: 16 }, deniedResponse: { status: { code: 401 }, headers: [opt('www-authenticate', 'Bearer')], body: 'who are you?' } });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, checked, close: () => server.forceShutdown() };
}
