// The benchmark backend: a minimal keep-alive HTTP server. GET /small answers 2 bytes,
// GET /4k answers 4 KiB, so proxies are compared on per-request cost, not on the backend.
import http from 'node:http';

const port = Number(process.argv[2] ?? 9200);
const small = Buffer.from('ok');
const big = Buffer.alloc(4096, 'x');

http
  .createServer((req, res) => {
    const body = req.url === '/4k' ? big : small;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  })
  .listen(port, '127.0.0.1');
