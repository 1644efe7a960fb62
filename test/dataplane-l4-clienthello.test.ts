// ClientHello reader: real ClientHellos from Node's TLS client, fed whole, byte by byte, and
// re-framed into many records; malformed, oversized and garbage inputs are refused, never thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { ClientHelloReader } from '../src/dataplane/l4/clienthello.ts';
import type { ClientHelloResult } from '../src/dataplane/l4/clienthello.ts';
import { captureClientHello, reframe } from './support/l4-net.ts';

function feed(chunks: Buffer[], max?: number): { result: ClientHelloResult; doneAt: number } {
  const r = new ClientHelloReader(max);
  let result: ClientHelloResult = { state: 'incomplete' };
  for (let i = 0; i < chunks.length; i++) {
    result = r.push(chunks[i]);
    if (result.state !== 'incomplete') return { result, doneAt: i };
  }
  return { result, doneAt: -1 };
}

function bytesOf(b: Buffer): Buffer[] {
  return [...b].map((x) => Buffer.from([x]));
}

test('reads SNI and ALPN from a real TLS 1.3 ClientHello', async () => {
  const hello = await captureClientHello({ servername: 'App.Example.COM', ALPNProtocols: ['h2', 'http/1.1'] });
  const { result } = feed([hello]);
  assert.equal(result.state, 'done');
  if (result.state !== 'done') return;
  assert.equal(result.hello.serverName, 'app.example.com');
  assert.deepEqual(result.hello.alpn, ['h2', 'http/1.1']);
  assert.equal(result.hello.version, 0x0303);
});

test('no server_name extension: done without SNI', async () => {
  const hello = await captureClientHello({}); // host is an IP literal: no SNI is sent
  const { result } = feed([hello]);
  assert.equal(result.state, 'done');
  assert.equal(result.state === 'done' && result.hello.serverName, undefined);
});

test('TLS 1.2-only client and OpenSSL s_client ClientHellos', async () => {
  const v12 = feed([await captureClientHello({ servername: 'old.example.com', maxVersion: 'TLSv1.2' })]).result;
  assert.equal(v12.state === 'done' && v12.hello.serverName, 'old.example.com');
  const ossl = feed([await captureOpenSSLHello('ossl.example.com')]).result;
  assert.equal(ossl.state === 'done' && ossl.hello.serverName, 'ossl.example.com');
  assert.deepEqual(ossl.state === 'done' && ossl.hello.alpn, ['h2', 'http/1.1']);
});

/** The first record `openssl s_client` sends (a different TLS stack from Node's client defaults). */
async function captureOpenSSLHello(servername: string): Promise<Buffer> {
  const server = net.createServer();
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
  const got = new Promise<Buffer>((resolve) => {
    server.on('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
          s.destroy();
        }
      });
    });
  });
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, '-alpn', 'h2,http/1.1'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    return await got;
  } finally {
    child.kill();
    server.close();
  }
}

test('byte by byte: incomplete until the very last byte, then the same answer', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const { result, doneAt } = feed(bytesOf(hello));
  assert.equal(doneAt, hello.length - 1);
  assert.equal(result.state === 'done' && result.hello.serverName, 'a.example.com');
});

test('a ClientHello spread over many records (and fed byte by byte) is reassembled', async () => {
  const hello = await captureClientHello({ servername: 'split.example.com' });
  for (const size of [1, 7, 100]) {
    const framed = reframe(hello, size);
    assert.ok(framed.length > hello.length);
    const whole = feed([framed]).result;
    assert.equal(whole.state === 'done' && whole.hello.serverName, 'split.example.com');
    const { result, doneAt } = feed(bytesOf(framed));
    assert.equal(doneAt, framed.length - 1, `size ${size}`);
    assert.equal(result.state === 'done' && result.hello.serverName, 'split.example.com');
  }
});

test('bytes() returns everything pushed, including what followed the hello', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const r = new ClientHelloReader();
  r.push(hello.subarray(0, 10));
  const tail = Buffer.from('extra');
  r.push(Buffer.concat([hello.subarray(10), tail]));
  r.push(Buffer.from('more'));
  assert.deepEqual(r.bytes(), Buffer.concat([hello, tail, Buffer.from('more')]));
});

test('refuses non-TLS and malformed input', async () => {
  const cases: [string, Buffer][] = [
    ['HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['SSLv2 hello', Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15])],
    ['record version 2', Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0])],
    ['zero-length record', Buffer.from([22, 3, 1, 0, 0])],
    ['oversized record', Buffer.from([22, 3, 1, 0x50, 0x00])],
    ['ServerHello instead of ClientHello', Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0])],
    ['empty ClientHello body', Buffer.from([22, 3, 3, 0, 4, 1, 0, 0, 0])],
  ];
  for (const [name, bytes] of cases) {
    assert.equal(feed([bytes]).result.state, 'invalid', name);
  }
  // A valid hello with its extensions length corrupted, and with a truncated SNI entry.
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const bad = Buffer.from(hello);
  const sni = bad.indexOf(Buffer.from('a.example.com'));
  bad.writeUInt16BE(200, sni - 2); // host_name length runs past the extension
  assert.equal(feed([bad]).result.state, 'invalid');
});

test('refuses a hello bigger than the limit and malformed host names', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  assert.equal(feed([hello], 100).result.state, 'invalid');
  const bad = Buffer.from(hello);
  const at = bad.indexOf(Buffer.from('a.example.com'));
  bad.write('a/example.com', at, 'latin1');
  assert.equal(feed([bad]).result.state, 'invalid');
});

test('random corruption never throws and never hangs past the input', async () => {
  const hello = await captureClientHello({ servername: 'fuzz.example.com', ALPNProtocols: ['h2'] });
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(hello);
    const flips = 1 + Math.floor(rnd() * 4);
    for (let j = 0; j < flips; j++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const cut = rnd() < 0.2 ? Math.floor(rnd() * b.length) : b.length;
    const r = new ClientHelloReader(4096);
    const res = r.push(b.subarray(0, cut));
    assert.ok(['incomplete', 'done', 'invalid'].includes(res.state));
  }
});
