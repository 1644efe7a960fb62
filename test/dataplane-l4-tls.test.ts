// TLS listeners through real sockets and real TLS: passthrough (the client must see the backend's
// own certificate), SNI precedence, refusals, fragmented ClientHellos, terminate, mixed, live update.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import https from 'node:https';
import { createTlsServer, hostnameScore, l4MetricValue, selectListener } from '../src/dataplane/l4/index.ts';
import type { L4Options, L4StreamServer } from '../src/dataplane/l4/index.ts';
import type { IRBackend, IRListener } from '../src/ir/types.ts';
import { makeCA, makeCert } from './support/tls-certs.ts';
import type { CA, LeafCert } from './support/tls-certs.ts';
import { backend, fragmentingTransport, l4route, listenProxy, listener, tcpEcho, tlsEcho, tlsExchange } from './support/l4-net.ts';
import type { Closable } from './support/l4-net.ts';
import { certificate } from './support/ir.ts';
import { waitFor } from './support/wait.ts';

let ca: CA;
let certA: LeafCert;
let certW: LeafCert;
let certTerm: LeafCert;
let certX: LeafCert;
let certY: LeafCert;
const servers: Closable[] = [];
const proxies: L4StreamServer[] = [];
let backA: Closable; // TLS backend, certificate a.example.com
let backW: Closable; // TLS backend, certificate *.wild.example.com
let plain: Closable; // plaintext TCP echo named T
let backends: Record<string, IRBackend>;

before(async () => {
  ca = await makeCA();
  [certA, certW, certTerm, certX, certY] = await Promise.all([
    makeCert(ca, { dns: ['a.example.com'] }),
    makeCert(ca, { dns: ['*.wild.example.com'] }),
    makeCert(ca, { dns: ['term.example.com', 'secure.mixed.example.com'] }),
    makeCert(ca, { dns: ['x.multi.example.com'] }),
    makeCert(ca, { dns: ['y.multi.example.com'] }),
  ]);
  backA = await tlsEcho('A', certA);
  backW = await tlsEcho('W', certW);
  plain = await tcpEcho('T');
  servers.push(backA, backW, plain);
  backends = {
    a: backend('a', [backA.port]),
    w: backend('w', [backW.port]),
    t: backend('t', [plain.port]),
  };
});

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function start(listeners: IRListener[], opts: L4Options = {}): Promise<{ proxy: L4StreamServer; port: number }> {
  const proxy = createTlsServer(listeners, backends, opts);
  proxies.push(proxy);
  return { proxy, port: await listenProxy(proxy.server) };
}

function passthroughListeners(port = 0): IRListener[] {
  const pt = { mode: 'Passthrough' as const, certificates: [] };
  return [
    listener('exact', 'TLS', port, [l4route('ra', [['a', 1]], ['a.example.com'])], { hostname: 'a.example.com', tls: pt }),
    listener('wild', 'TLS', port, [l4route('rw', [['w', 1]], ['*.wild.example.com'])], { hostname: '*.wild.example.com', tls: pt }),
    // A broader wildcard listener whose routes are listed wildcard first: the exact route still wins.
    listener('broad', 'TLS', port, [l4route('rb-wild', [['w', 1]], ['*.example.com']), l4route('rb-exact', [['a', 1]], ['r.example.com'])], { hostname: '*.example.com', tls: pt }),
  ];
}

test('passthrough: the client sees the certificate of the backend chosen by SNI', async () => {
  const { port } = await start(passthroughListeners());
  const a = await tlsExchange(port, 'a.example.com', 'hello', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(a.error, undefined);
  assert.equal(a.cn, 'a.example.com');
  assert.equal(a.data, 'A:hello');
  // Wildcard listener: one or more labels in front of the suffix.
  const w = await tlsExchange(port, 'x.y.wild.example.com', 'hi');
  assert.equal(w.cn, '*.wild.example.com');
  assert.equal(w.data, 'W:hi');
  // Most specific listener wins ("*.wild.example.com" over "*.example.com"), exact route over wildcard route.
  assert.equal((await tlsExchange(port, 'b.wild.example.com', 'x')).cn, '*.wild.example.com');
  assert.equal((await tlsExchange(port, 'r.example.com', 'x')).cn, 'a.example.com');
  assert.equal((await tlsExchange(port, 'other.example.com', 'x')).cn, '*.wild.example.com');
});

test('passthrough: unknown or missing SNI is refused, not routed to a default', async () => {
  const { port } = await start(passthroughListeners());
  const before = l4MetricValue('portico_l4_connections_rejected_total', { listener: '', protocol: 'TLS', port }, { reason: 'no_listener' });
  const unknown = await tlsExchange(port, 'a.example.org', 'x');
  assert.ok(unknown.error, 'handshake must fail');
  assert.equal(unknown.cn, undefined);
  assert.equal(unknown.data, '');
  assert.equal(l4MetricValue('portico_l4_connections_rejected_total', { listener: '', protocol: 'TLS', port }, { reason: 'no_listener' }), before + 1);
  const none = await tlsExchange(port, undefined, 'x');
  assert.ok(none.error);
  assert.equal(none.cn, undefined);
  // The most specific listener owns its hostname even without a route for it: no fall-through to
  // the wildcard listener that would route it.
  const isolated = [...passthroughListeners(), listener('iso', 'TLS', 0, [], { hostname: 'iso.example.com', tls: { mode: 'Passthrough', certificates: [] } })];
  const iso = await start(isolated);
  assert.equal((await tlsExchange(iso.port, 'iso.example.com', 'x')).cn, undefined);
  assert.equal((await tlsExchange(iso.port, 'iso2.example.com', 'x')).cn, '*.wild.example.com');
  // The parent domain of a wildcard is not matched by it: only "*.example.com" (routes to W) takes it.
  assert.equal(selectListener(passthroughListeners(), 'wild.example.com')?.id, 'default/gw/broad');
  assert.equal(hostnameScore('*.wild.example.com', 'wild.example.com'), -1);
});

test('passthrough: ClientHello sent one byte per segment, or split over many records', async () => {
  const { port } = await start(passthroughListeners());
  for (const mode of ['bytes', 'records'] as const) {
    const r = await tlsExchange(port, 'a.example.com', 'frag', { socket: fragmentingTransport(port, mode), ca: ca.certPem, rejectUnauthorized: true });
    assert.equal(r.error, undefined, mode);
    assert.equal(r.cn, 'a.example.com', mode);
    assert.equal(r.data, 'A:frag', mode);
  }
});

test('a client that never sends a ClientHello is closed after the handshake timeout', async () => {
  const { port } = await start(passthroughListeners(), { handshakeTimeoutMs: 150 });
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
  const took = Date.now() - t0;
  assert.ok(took >= 100 && took < 3000, `closed after ${took} ms`);
});

test('plaintext or garbage on a TLS port is refused', async () => {
  const { port } = await start(passthroughListeners());
  const reply = await new Promise<Buffer>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n'));
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(got)));
  });
  // Nothing but (at most) a TLS alert record comes back.
  assert.ok(reply.length === 0 || reply[0] === 0x15);
});

function terminateListeners(): IRListener[] {
  return [
    listener('term', 'TLS', 0, [l4route('rt', [['t', 1]], ['term.example.com'])], {
      hostname: 'term.example.com',
      tls: { mode: 'Terminate', certificates: [certificate(certTerm, 'term')] },
    }),
    listener('multi', 'TLS', 0, [l4route('rm', [['t', 1]], ['*.multi.example.com'])], {
      hostname: '*.multi.example.com',
      tls: { mode: 'Terminate', certificates: [certificate(certX, 'x'), certificate(certY, 'y')] },
    }),
    // Same port, passthrough listener: the "mixed" port of GEP-2643.
    listener('pass', 'TLS', 0, [l4route('rp', [['a', 1]], ['a.example.com'])], { hostname: 'a.example.com', tls: { mode: 'Passthrough', certificates: [] } }),
    // An IR listener in mode Mixed: terminates SNIs its certificates cover, passes the others through.
    listener('mixed', 'TLS', 0, [l4route('rs', [['t', 1]], ['secure.mixed.example.com']), l4route('rr', [['w', 1]], ['raw.mixed.example.com'])], {
      hostname: '*.mixed.example.com',
      tls: { mode: 'Mixed', certificates: [certificate(certTerm, 'term')] },
    }),
  ];
}

test('terminate: gateway certificate for the SNI, plaintext (and half-close) to the backend', async () => {
  const { port } = await start(terminateListeners());
  const r = await tlsExchange(port, 'term.example.com', 'hello', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(r.error, undefined);
  assert.equal(r.cn, 'term.example.com');
  // tcpEcho: greeting, echo, then the byte count it sends only after seeing our end of stream.
  assert.equal(r.data, 'T\nhello' + 'T:bytes=5\n');
  // Certificate chosen by SNI among the listener's certificates.
  assert.equal((await tlsExchange(port, 'y.multi.example.com', 'q', { ca: ca.certPem, rejectUnauthorized: true })).cn, 'y.multi.example.com');
  assert.equal((await tlsExchange(port, 'x.multi.example.com', 'q', { ca: ca.certPem, rejectUnauthorized: true })).cn, 'x.multi.example.com');
  // Fragmented ClientHello: the bytes read for SNI are handed to the local TLS stack intact.
  const f = await tlsExchange(port, 'term.example.com', 'frag', { socket: fragmentingTransport(port, 'bytes'), ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(f.data, 'T\nfrag' + 'T:bytes=4\n');
});

test('mixed: passthrough and terminate listeners on one port, decided per connection', async () => {
  const { port } = await start(terminateListeners());
  const p = await tlsExchange(port, 'a.example.com', 'p', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(p.cn, 'a.example.com');
  assert.equal(p.data, 'A:p');
  const t = await tlsExchange(port, 'term.example.com', 't', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(t.data, 'T\nt' + 'T:bytes=1\n');
  // Listener in IR mode Mixed.
  const s = await tlsExchange(port, 'secure.mixed.example.com', 's', { ca: ca.certPem, rejectUnauthorized: true });
  assert.equal(s.cn, 'term.example.com');
  assert.equal(s.data, 'T\ns' + 'T:bytes=1\n');
  const raw = await tlsExchange(port, 'raw.mixed.example.com', 'r');
  assert.equal(raw.cn, '*.wild.example.com'); // backend W's own certificate: passed through
  assert.equal(raw.data, 'W:r');
});

test('terminate with client certificate validation (AllowValidOnly)', async () => {
  const clientCert = await makeCert(ca, { cn: 'alice', client: true });
  const cert = { certPem: certTerm.certPem, keyPem: certTerm.keyPem, source: { kind: 'Secret', name: 'term' } };
  const { port } = await start([
    listener('mtls', 'TLS', 0, [l4route('rt', [['t', 1]], ['term.example.com'])], {
      hostname: 'term.example.com',
      tls: { mode: 'Terminate', certificates: [cert], clientValidation: { caPem: ca.certPem, mode: 'AllowValidOnly' } },
    }),
  ]);
  const ok = await tlsExchange(port, 'term.example.com', 'm', { ca: ca.certPem, cert: clientCert.certPem, key: clientCert.keyPem });
  assert.equal(ok.data, 'T\nm' + 'T:bytes=1\n');
  const denied = await tlsExchange(port, 'term.example.com', 'm', { ca: ca.certPem });
  assert.ok(!denied.data.includes('T:bytes'), 'no certificate, no traffic');
  const labels = { listener: 'default/gw/mtls', protocol: 'TLS' as const, port };
  await waitFor(() => l4MetricValue('portico_l4_connections_rejected_total', labels, { reason: 'tls_handshake' }) === 1);
});

test('terminate with re-encryption to the backend (BackendTLSPolicy): verified, or refused', async () => {
  const cert = { certPem: certTerm.certPem, keyPem: certTerm.keyPem, source: { kind: 'Secret', name: 'term' } };
  const policy = { source: { kind: 'BackendTLSPolicy', namespace: 'default', name: 'p' } };
  const bs: Record<string, IRBackend> = {
    good: backend('good', [backA.port], { tls: { sni: 'a.example.com', caPem: ca.certPem, ...policy } }),
    wrongName: backend('wrongName', [backA.port], { tls: { sni: 'b.example.com', caPem: ca.certPem, ...policy } }),
    wrongCA: backend('wrongCA', [backA.port], { tls: { sni: 'a.example.com', caPem: certW.certPem, ...policy } }),
    bySan: backend('bySan', [backA.port], { tls: { sni: 'other.example.com', caPem: ca.certPem, subjectAltNames: [{ type: 'Hostname', hostname: 'a.example.com' }], ...policy } }),
    invalid: backend('invalid', [backA.port], { tls: { sni: 'a.example.com', invalid: true, ...policy } }),
  };
  const listeners = Object.keys(bs).map((id) =>
    listener(id, 'TLS', 0, [l4route(id, [[id, 1]], [])], { hostname: `${id.toLowerCase()}.term.example.com`, tls: { mode: 'Terminate', certificates: [cert] } }),
  );
  const proxy = createTlsServer(listeners, bs);
  proxies.push(proxy);
  const port = await listenProxy(proxy.server);
  assert.equal((await tlsExchange(port, 'good.term.example.com', 'enc')).data, 'A:enc');
  assert.equal((await tlsExchange(port, 'bysan.term.example.com', 'enc')).data, 'A:enc');
  for (const sni of ['wrongname.term.example.com', 'wrongca.term.example.com', 'invalid.term.example.com']) {
    assert.equal((await tlsExchange(port, sni, 'enc')).data, '', sni);
  }
});

test('HTTPS and TLS listeners on one port: HTTPS connections are handed to the delegate', async () => {
  const web = await makeCert(ca, { dns: ['web.example.com'] });
  const httpsServer = https.createServer({ cert: web.certPem, key: web.keyPem }, (req, res) => res.end(`https:${req.headers.host}`));
  const cert = { certPem: certTerm.certPem, keyPem: certTerm.keyPem, source: { kind: 'Secret', name: 'term' } };
  const { port } = await start([
    listener('web', 'HTTPS', 0, [], { hostname: 'web.example.com', tls: { mode: 'Terminate', certificates: [] } }),
    listener('term', 'TLS', 0, [l4route('rt', [['t', 1]], ['term.example.com'])], { hostname: 'term.example.com', tls: { mode: 'Terminate', certificates: [cert] } }),
  ], { delegate: (_l: IRListener, s: net.Socket) => httpsServer.emit('connection', s) });
  const get = (servername?: string) => new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'web.example.com' }, ca: ca.certPem, servername, rejectUnauthorized: servername !== undefined, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  assert.equal(await get('web.example.com'), 'https:web.example.com');
  assert.equal(await get(undefined), 'https:web.example.com'); // no SNI: the port's HTTPS side answers
  assert.equal((await tlsExchange(port, 'term.example.com', 'x', { ca: ca.certPem, rejectUnauthorized: true })).data, 'T\nx' + 'T:bytes=1\n');
  httpsServer.close();
});

test('invalid or zero-weight backends refuse the connection', async () => {
  const pt = { mode: 'Passthrough' as const, certificates: [] };
  const { port } = await start([
    listener('inv', 'TLS', 0, [l4route('r1', [[undefined, 1]], ['inv.example.com'])], { hostname: 'inv.example.com', tls: pt }),
    listener('zero', 'TLS', 0, [l4route('r2', [['a', 0]], ['zero.example.com'])], { hostname: 'zero.example.com', tls: pt }),
    listener('gone', 'TLS', 0, [l4route('r3', [['missing', 1]], ['gone.example.com'])], { hostname: 'gone.example.com', tls: pt }),
  ]);
  for (const sni of ['inv.example.com', 'zero.example.com', 'gone.example.com']) {
    const r = await tlsExchange(port, sni, 'x');
    assert.equal(r.cn, undefined, sni);
    assert.equal(r.data, '', sni);
    assert.equal(r.error, 'ECONNRESET', `${sni}: a rejected connection, not a TLS alert`);
  }
});

test('refusals are a bare connection reset, never a TLS alert (TLSRoute conformance: connection rejected)', async () => {
  const pt = { mode: 'Passthrough' as const, certificates: [] };
  const { port } = await start([
    ...passthroughListeners(),
    listener('noroute', 'TLS', 0, [], { hostname: 'noroute.example.com', tls: pt }),
  ]);
  // Unknown SNI, no SNI, a listener without a route for the SNI.
  for (const sni of ['non.matching.org', undefined, 'noroute.example.com']) {
    const r = await tlsExchange(port, sni, 'x');
    assert.equal(r.error, 'ECONNRESET', `${sni}: got ${r.error}`);
    // Nothing at all comes back: no alert record before the reset.
    const bytes = await new Promise<number>((resolve) => {
      let n = 0;
      const raw = net.connect(port, '127.0.0.1', () => {
        const c = tls.connect({ socket: raw, ...(sni ? { servername: sni } : {}), rejectUnauthorized: false });
        c.on('error', () => {});
      });
      raw.on('data', (d) => (n += d.length));
      raw.on('error', () => {});
      raw.on('close', () => resolve(n));
    });
    assert.equal(bytes, 0, `${sni}: bytes received`);
  }
});

test('live update: new connections follow the new routes, open ones keep their backend', async () => {
  const { proxy, port } = await start(passthroughListeners());
  // Open a long-lived connection to A.
  const c = tls.connect({ port, host: '127.0.0.1', servername: 'a.example.com', rejectUnauthorized: false });
  const lines: string[] = [];
  c.on('error', () => {});
  c.on('data', (d) => lines.push(d.toString()));
  await new Promise((r) => c.once('secureConnect', r));
  c.write('one');
  await waitFor(() => lines.join('') === 'A:one');
  // a.example.com now goes to W.
  const moved = passthroughListeners();
  moved[0].l4Routes = [l4route('ra', [['w', 1]], ['a.example.com'])];
  proxy.update(moved, backends);
  assert.equal((await tlsExchange(port, 'a.example.com', 'new')).data, 'W:new');
  c.write('two');
  await waitFor(() => lines.join('') === 'A:oneA:two');
  await new Promise<void>((r) => c.end(() => r()));
  const labels = { listener: 'default/gw/exact', protocol: 'TLS' as const, port };
  assert.ok(l4MetricValue('portico_l4_connections_total', labels) >= 2);
  assert.ok(l4MetricValue('portico_l4_received_bytes_total', labels) > 0);
});
