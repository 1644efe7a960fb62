// listeners[].tls.options Portico understands: minimum / maximum TLS version (HTTPS and TLS
// Terminate listeners, per listener on a shared port) and the ALPN protocols a TLS-terminating
// TLSRoute listener offers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { createDataPlane, type DataPlane } from '../src/dataplane/index.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort } from './support/client.ts';
import { backend, certificate, ir, listener, match, route, to } from './support/ir.ts';
import { backend as l4backend, l4route, listener as l4listener, tcpEcho, type Closable } from './support/l4-net.ts';
import { makeCA, makeCert, type CA } from './support/tls-certs.ts';

let ca: CA;
let echo: EchoBackend;
let plain: Closable;
let dp: DataPlane;
let httpsPort: number;
let tlsPort: number;

before(async () => {
  ca = await makeCA();
  const [modern, legacy, term, termAlpn] = await Promise.all([
    makeCert(ca, { dns: ['modern.example.com'] }),
    makeCert(ca, { dns: ['legacy.example.com'] }),
    makeCert(ca, { dns: ['term.example.com'] }),
    makeCert(ca, { dns: ['alpn.example.com', 'old.example.com'] }),
  ]);
  echo = await startEcho('web');
  plain = await tcpEcho('T');
  [httpsPort, tlsPort] = await Promise.all([freePort(), freePort()]);
  dp = await createDataPlane({ workers: 0 });
  const r = await dp.apply(ir(1, [
    listener('modern', httpsPort, { '*': [route('modern', match(), [to('web')])] }, {
      protocol: 'HTTPS', hostname: 'modern.example.com',
      tls: { mode: 'Terminate', certificates: [certificate(modern, 'modern')], options: { 'portico.dev/tls-min-version': 'TLSv1.3' } },
    }),
    listener('legacy', httpsPort, { '*': [route('legacy', match(), [to('web')])] }, {
      protocol: 'HTTPS', hostname: 'legacy.example.com', tls: { mode: 'Terminate', certificates: [certificate(legacy, 'legacy')] },
    }),
    l4listener('term', 'TLS', tlsPort, [l4route('term', [['t', 1]], [])], {
      hostname: 'term.example.com', tls: { mode: 'Terminate', certificates: [certificate(term, 'term')], options: { 'portico.dev/tls-min-version': '1.3' } },
    }),
    l4listener('alpn', 'TLS', tlsPort, [l4route('alpn', [['t', 1]], [])], {
      hostname: 'alpn.example.com', tls: { mode: 'Terminate', certificates: [certificate(termAlpn, 'alpn')], options: { 'portico.dev/alpn': 'h2, http/1.1' } },
    }),
    l4listener('old', 'TLS', tlsPort, [l4route('old', [['t', 1]], [])], {
      hostname: 'old.example.com', tls: { mode: 'Terminate', certificates: [certificate(termAlpn, 'old')], options: { 'portico.dev/tls-max-version': 'TLSv1.2' } },
    }),
  ], [backend('web', echo), l4backend('t', [plain.port])]));
  assert.deepEqual(r.bindErrors, {});
});

after(async () => {
  await dp?.close();
  await echo?.close();
  await plain?.close();
});

function httpsStatus(servername: string, maxVersion?: tls.SecureVersion): Promise<number> {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port: httpsPort, servername, headers: { host: servername }, ca: ca.certPem, agent: false, maxVersion }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** TLS handshake through the TLS port: negotiated version and ALPN protocol, or the error. */
function handshake(servername: string, o: tls.ConnectionOptions = {}): Promise<{ version?: string; alpn?: string | false | null; data: string; error?: string }> {
  return new Promise((resolve) => {
    const out: { version?: string; alpn?: string | false | null; data: string; error?: string } = { data: '' };
    const c = tls.connect({ host: '127.0.0.1', port: tlsPort, servername, ca: ca.certPem, ...o }, () => {
      out.version = c.getProtocol() ?? undefined;
      out.alpn = c.alpnProtocol;
      c.end('x');
    });
    c.on('data', (d) => (out.data += d));
    c.on('error', (e: NodeJS.ErrnoException) => (out.error = e.code ?? e.message));
    c.on('close', () => resolve(out));
  });
}

test('HTTPS: a listener with minimum TLSv1.3 refuses TLSv1.2 clients; its neighbour on the port does not', async () => {
  assert.equal(await httpsStatus('modern.example.com'), 200);
  assert.equal(await httpsStatus('modern.example.com', 'TLSv1.2'), 0);
  assert.equal(await httpsStatus('legacy.example.com', 'TLSv1.2'), 200);
});

test('TLS Terminate: minimum and maximum versions per listener', async () => {
  const modern = await handshake('term.example.com');
  assert.equal(modern.version, 'TLSv1.3');
  assert.equal(modern.data, 'T\nx' + 'T:bytes=1\n');
  const refused = await handshake('term.example.com', { maxVersion: 'TLSv1.2' });
  assert.equal(refused.version, undefined, 'no handshake below the minimum');
  assert.equal((await handshake('old.example.com')).version, 'TLSv1.2', 'the maximum caps what a modern client gets');
});

test('TLS Terminate: ALPN protocols offered only where tls.options lists them, in preference order', async () => {
  assert.equal((await handshake('alpn.example.com', { ALPNProtocols: ['http/1.1', 'h2'] })).alpn, 'h2');
  assert.equal((await handshake('alpn.example.com', { ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
  assert.equal((await handshake('term.example.com', { ALPNProtocols: ['h2'] })).alpn, false, 'no option: no ALPN answer');
});
