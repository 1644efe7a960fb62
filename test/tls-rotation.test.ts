// Live certificate rotation under load: a new generation with a new certificate for the same
// listener (HTTPS, and a TLS-terminating TLSRoute listener on the same port) is offered to every
// new handshake while open connections keep working and no request fails; the CA bundle of
// frontend client validation rotates the same way; AllowInsecureFallback lets clients without a
// valid certificate in.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createDataPlane } from '../src/dataplane/index.ts';
import type { IR, IRListener } from '../src/ir/types.ts';
import { startEcho, type EchoBackend } from './support/echo-backend.ts';
import { freePort, request } from './support/client.ts';
import { backend, certificate, ir, listener, match, route, to } from './support/ir.ts';
import { backend as l4backend, l4route, listener as l4listener, tcpEcho, tlsExchange, type Closable } from './support/l4-net.ts';
import { makeCA, makeCert, type CA, type CertPair } from './support/tls-certs.ts';

let ca: CA;
let echo: EchoBackend;
let plain: Closable;

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

before(async () => {
  ca = await makeCA();
  echo = await startEcho('web');
  plain = await tcpEcho('T');
});

after(async () => {
  await echo?.close();
  await plain?.close();
});

interface Got { status: number; serial: string; socket: tls.TLSSocket }

function get(port: number, o: { agent?: https.Agent; servername?: string; cert?: CertPair } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/', headers: { host: 'web.example.com' }, ca: ca.certPem, agent: o.agent ?? false,
      servername: o.servername ?? 'web.example.com', cert: o.cert?.certPem, key: o.cert?.keyPem,
      // without SNI the client cannot check the name; the CA is still checked
      ...(o.servername === '' ? { checkServerIdentity: () => undefined } : {}),
    }, (res) => {
      const sock = res.socket as tls.TLSSocket;
      const got = { status: res.statusCode ?? 0, serial: sock.getPeerX509Certificate()?.serialNumber ?? '', socket: sock };
      res.resume();
      res.on('end', () => resolve(got));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('certificate rotation under load: new handshakes get the new certificate, open connections continue, nothing fails', async () => {
  const [web1, web2, term1, term2] = await Promise.all([
    makeCert(ca, { dns: ['web.example.com'] }), makeCert(ca, { dns: ['web.example.com'] }),
    makeCert(ca, { dns: ['term.example.com'] }), makeCert(ca, { dns: ['term.example.com'] }),
  ]);
  const port = await freePort();
  const model = (generation: number, web: CertPair, term: CertPair): IR => ir(generation, [
    listener('web', port, { 'web.example.com': [route('web', match(), [to('web')])] }, {
      protocol: 'HTTPS', hostname: 'web.example.com', tls: { mode: 'Terminate', certificates: [certificate(web, 'web')] },
    }),
    l4listener('term', 'TLS', port, [l4route('term', [['t', 1]], ['term.example.com'])], {
      hostname: 'term.example.com', tls: { mode: 'Terminate', certificates: [certificate(term, 'term')] },
    }) as IRListener,
  ], [backend('web', echo), l4backend('t', [plain.port])]);
  const dp = await createDataPlane({ workers: 0 });
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await dp.apply(model(1, web1, term1));
    const s1 = serialOf(web1.certPem);
    const s2 = serialOf(web2.certPem);
    const held = await get(port, { agent: keepAlive });
    assert.equal(held.serial, s1);
    // Load: 4 loops of fresh connections plus one kept-alive connection, until told to stop.
    let stop = false;
    const failures: string[] = [];
    const seen: string[] = [];
    const loop = async (agent?: https.Agent) => {
      while (!stop) {
        try {
          const r = await get(port, { agent });
          if (r.status !== 200) failures.push(`status ${r.status}`);
          seen.push(r.serial);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop(), loop(keepAlive)];
    await new Promise((r) => setTimeout(r, 150));
    await dp.apply(model(2, web2, term2));
    const fresh = await get(port);
    assert.equal(fresh.serial, s2, 'a handshake after apply sees the new certificate');
    const term = await tlsExchange(port, 'term.example.com', 'x', { ca: ca.certPem, rejectUnauthorized: true });
    assert.equal(term.data, 'T\nx' + 'T:bytes=1\n');
    const termSerial = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'term.example.com', ca: ca.certPem }, () => { resolve(c.getPeerX509Certificate()?.serialNumber ?? ''); c.destroy(); });
      c.on('error', reject);
    });
    assert.equal(termSerial, serialOf(term2.certPem), 'TLS listener: new certificate');
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, []);
    assert.ok(seen.includes(s1) && seen.includes(s2), 'the load saw both certificates');
    const after = await get(port, { agent: keepAlive });
    assert.equal(after.status, 200);
    assert.equal(after.socket, held.socket, 'the connection opened before the rotation is still in use');
  } finally {
    keepAlive.destroy();
    await dp.close();
  }
});

test('frontend client validation: the CA bundle rotates for new connections; clients without SNI are validated too', async () => {
  const other = await makeCA('Other CA');
  const [server, alice, bob] = await Promise.all([
    makeCert(ca, { dns: ['web.example.com'] }),
    makeCert(ca, { cn: 'alice', client: true }),
    makeCert(other, { cn: 'bob', client: true }),
  ]);
  const port = await freePort();
  const model = (generation: number, caPem: string, mode: 'AllowValidOnly' | 'AllowInsecureFallback' = 'AllowValidOnly'): IR => ir(generation, [
    listener('web', port, { '*': [route('web', match(), [to('web')])] }, {
      protocol: 'HTTPS', tls: { mode: 'Terminate', certificates: [certificate(server, 'web')], clientValidation: { caPem, mode } },
    }),
  ], [backend('web', echo)]);
  const dp = await createDataPlane({ workers: 0 });
  const status = (cert?: CertPair, servername = 'web.example.com') => get(port, { cert, servername }).then((r) => r.status, () => 0);
  try {
    await dp.apply(model(1, ca.certPem));
    assert.equal(await status(alice), 200);
    assert.equal(await status(bob), 0, 'a certificate from another CA is refused');
    assert.equal(await status(), 0, 'no certificate is refused');
    assert.equal(await status(alice, ''), 200, 'no SNI: validated against the listener CA too');
    await dp.apply(model(2, other.certPem));
    assert.equal(await status(bob), 200, 'the new CA admits its clients');
    assert.equal(await status(alice), 0, 'the old CA no longer does');
    assert.equal(await status(bob, ''), 200);
    await dp.apply(model(3, ca.certPem, 'AllowInsecureFallback'));
    assert.equal(await status(alice), 200);
    assert.equal(await status(bob), 200, 'AllowInsecureFallback: an unverified certificate is let in');
    assert.equal(await status(), 200, 'AllowInsecureFallback: no certificate is let in');
  } finally {
    await dp.close();
  }
});

test('backend TLS rotation: a new CA bundle and a new Gateway client certificate apply to new requests', async () => {
  const [caOne, caTwo] = await Promise.all([makeCA('Backend CA 1'), makeCA('Backend CA 2')]);
  const [leafOne, clientOne, clientTwo] = await Promise.all([
    makeCert(caOne, { dns: ['backend.example'] }),
    makeCert(ca, { cn: 'gw-one', client: true }),
    makeCert(ca, { cn: 'gw-two', client: true }),
  ]);
  const srv = https.createServer({ cert: leafOne.certPem, key: leafOne.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const sock = req.socket as tls.TLSSocket;
    res.end(sock.authorized ? String(sock.getPeerCertificate().subject.CN) : 'anonymous');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = await freePort();
  const dp = await createDataPlane({ workers: 0 });
  const model = (generation: number, caPem: string, client: CertPair): IR => {
    const m = ir(generation, [listener('http', port, { '*': [route('r', match(), [to('secure')])] })], [{
      id: 'secure', source: { kind: 'Service', namespace: 'default', name: 'secure' }, protocol: 'http1',
      endpoints: [{ address: '127.0.0.1', port: (srv.address() as AddressInfo).port }],
      tls: { sni: 'backend.example', caPem, source: { kind: 'BackendTLSPolicy', namespace: 'default', name: 'p' } },
    }]);
    m.gateways[0].backendClientCertificate = certificate(client, 'gw-client');
    return m;
  };
  const ask = async () => {
    const r = await request(port, '/', { host: 'front.test' });
    return r.status === 200 ? r.body : `status ${r.status}`;
  };
  try {
    await dp.apply(model(1, caOne.certPem, clientOne));
    assert.equal(await ask(), 'gw-one');
    await dp.apply(model(2, caOne.certPem, clientTwo));
    assert.equal(await ask(), 'gw-two', 'the new client certificate is presented');
    await dp.apply(model(3, caTwo.certPem, clientTwo));
    assert.match(await ask(), /^status 5/, 'the backend is no longer trusted under the new CA bundle');
    await dp.apply(model(4, caOne.certPem + caTwo.certPem, clientTwo));
    assert.equal(await ask(), 'gw-two', 'a bundle holding the right CA again');
  } finally {
    await dp.close();
    srv.close();
  }
});
