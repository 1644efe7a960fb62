// A tiny backend for the examples: answers every request with who answered and what it saw.
//   node examples/backends/echo.ts NAME PORT [HOST]
// The first line of the body names the backend, e.g. "team-a/store-v1 answered GET /cart".
import { createServer } from 'node:http';

const [name = 'echo', portArg = '0', host = '127.0.0.1'] = process.argv.slice(2);

const server = createServer((req, res) => {
  const body = [
    `${name} answered ${req.method} ${req.url}`,
    `host: ${req.headers.host ?? ''}`,
    ...Object.entries(req.headers).filter(([k]) => k !== 'host').map(([k, v]) => `${k}: ${String(v)}`),
    '',
  ].join('\n');
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-backend': name });
  res.end(body);
  process.stdout.write(`${name}: ${req.method} ${req.headers.host ?? ''}${req.url}\n`);
});

server.on('error', (err) => {
  process.stderr.write(`${name}: cannot listen on ${host}:${portArg}: ${err.message}\n`);
  process.exit(1);
});
server.listen(Number(portArg), host, () => {
  const a = server.address();
  process.stdout.write(`${name}: listening on ${typeof a === 'object' && a ? `${a.address}:${a.port}` : String(a)}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
