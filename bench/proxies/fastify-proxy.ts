// @fastify/http-proxy (undici underneath) as a reverse proxy: the other common Node.js baseline.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const [listenPort, backendPort] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false });
await app.register(proxy, { upstream: `http://127.0.0.1:${backendPort}` });
await app.listen({ port: listenPort, host: '127.0.0.1' });
