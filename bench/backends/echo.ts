// The layer-4 benchmark backend: echoes every byte back, over plain TCP, or over TLS when given a
// certificate and key file (the TLS-passthrough case, where the proxy never decrypts).
//   node bench/backends/echo.ts PORT [CERT_FILE KEY_FILE]
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

const [port, certFile, keyFile] = process.argv.slice(2);
const echo = (s: net.Socket) => {
  s.on('error', () => s.destroy());
  s.pipe(s);
};
const server = certFile && keyFile
  ? tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.3' }, echo)
  : net.createServer(echo);
server.listen(Number(port), '127.0.0.1');
