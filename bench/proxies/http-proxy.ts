// The `http-proxy` package as a reverse proxy with upstream keep-alive: a common Node.js baseline.
import http from 'node:http';
import httpProxy from 'http-proxy';

const [listenPort, backendPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res) { res.writeHead(502); res.end(); }
});
http.createServer((req, res) => proxy.web(req, res)).listen(listenPort, '127.0.0.1');
