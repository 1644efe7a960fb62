// `node bench/l4.ts [--mb 64] [--conns 2000]`: layer-4 proxy figures, direct vs through Portico's
// TCP proxy and TLS passthrough, all on loopback in this process (so the proxy shares the CPU with
// the load generator; compare ratios, not absolute numbers). Not part of the test command.
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { createTcpServer, createTlsServer } from '../src/dataplane/l4/index.ts';
import type { IRBackend, IRListener } from '../src/ir/types.ts';
import { makeCA, makeCert } from '../test/support/tls-certs.ts';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '64' }, conns: { type: 'string', default: '2000' } } });
const MB = Number(values.mb);
const CONNS = Number(values.conns);

function listen(server: net.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
}

/** Seconds to push `mb` MiB through one connection and read it all back (echo). */
function throughput(connect: () => net.Socket, mb: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = mb * 1024 * 1024;
    const t0 = process.hrtime.bigint();
    const s = connect();
    let got = 0;
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
    };
    s.on('error', reject);
    s.on('data', (d) => {
      got += d.length;
      if (got >= total) {
        s.destroy();
        resolve(Number(process.hrtime.bigint() - t0) / 1e9);
      }
    });
    pump();
  });
}

/** Connections per second: each connects, sends one byte, waits for the echo, closes; 50 at a time. */
async function connRate(connect: () => net.Socket, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  const one = () => new Promise<void>((resolve, reject) => {
    const s = connect();
    s.on('error', reject);
    s.once('data', () => {
      s.end();
      resolve();
    });
    s.write('x');
  });
  await Promise.all(Array.from({ length: 50 }, async () => {
    while (next++ < n) await one();
  }));
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function main(): Promise<void> {
  const echo = net.createServer((s) => s.pipe(s));
  const echoPort = await listen(echo);
  const ca = await makeCA();
  const cert = await makeCert(ca, { dns: ['bench.example.com'] });
  const tlsEcho = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => s.pipe(s));
  const tlsEchoPort = await listen(tlsEcho);

  const backend = (id: string, port: number): IRBackend => ({ id, source: { kind: 'Service', name: id }, protocol: 'tcp', endpoints: [{ address: '127.0.0.1', port }] });
  const backends = { echo: backend('echo', echoPort), tlsecho: backend('tlsecho', tlsEchoPort) };
  const l = (protocol: 'TCP' | 'TLS', id: string, hostname?: string): IRListener => ({
    source: { kind: 'Gateway', name: 'bench' }, id, port: 0, protocol, virtualHosts: [], ...(hostname ? { hostname, tls: { mode: 'Passthrough', certificates: [] } } : {}),
    l4Routes: [{ source: { kind: protocol === 'TCP' ? 'TCPRoute' : 'TLSRoute', name: 'r' }, hostnames: hostname ? [hostname] : [], backends: [{ backendId: protocol === 'TCP' ? 'echo' : 'tlsecho', weight: 1, filters: [] }] }],
  });
  const tcpProxy = createTcpServer([l('TCP', 'tcp')], backends);
  const tcpProxyPort = await listen(tcpProxy.server);
  const tlsProxy = createTlsServer([l('TLS', 'tls', 'bench.example.com')], backends);
  const tlsProxyPort = await listen(tlsProxy.server);

  const plain = (port: number) => () => net.connect(port, '127.0.0.1');
  const secure = (port: number) => () => tls.connect({ port, host: '127.0.0.1', servername: 'bench.example.com', ca: ca.certPem });

  const rows: [string, string, string][] = [];
  const dT = await throughput(plain(echoPort), MB);
  const pT = await throughput(plain(tcpProxyPort), MB);
  rows.push(['TCP throughput MiB/s', (MB / dT).toFixed(0), (MB / pT).toFixed(0)]);
  rows.push(['TCP connections/s', (await connRate(plain(echoPort), CONNS)).toFixed(0), (await connRate(plain(tcpProxyPort), CONNS)).toFixed(0)]);
  const dS = await throughput(secure(tlsEchoPort), MB);
  const pS = await throughput(secure(tlsProxyPort), MB);
  rows.push(['TLS passthrough throughput MiB/s', (MB / dS).toFixed(0), (MB / pS).toFixed(0)]);
  const n = Math.max(100, Math.floor(CONNS / 4));
  rows.push(['TLS passthrough handshakes/s', (await connRate(secure(tlsEchoPort), n)).toFixed(0), (await connRate(secure(tlsProxyPort), n)).toFixed(0)]);

  console.log('| figure | direct | via Portico |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  await Promise.all([tcpProxy.close(), tlsProxy.close()]);
  echo.close();
  tlsEcho.close();
}

await main();
