// Pieces of the node agent (conformance/node-agent) that need no cluster: the container log reader
// that serves /containerLogs, the DNS stub that stands in for CoreDNS, and pod IP allocation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogs } from '../conformance/node-agent/logs.ts';
import { dnsReply } from '../conformance/node-agent/dns-stub.ts';
import { PodIPs } from '../conformance/node-agent/ipam.ts';

test('container logs honour sinceTime, timestamps, tailLines and limitBytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-logs-'));
  try {
    const file = join(dir, 'c.log');
    writeFileSync(
      file,
      [
        '2026-01-01T00:00:01.000000000Z stdout F Starting server',
        '2026-01-01T00:00:05.500000000Z stdout F Echoing back request made to /a to client (10.0.0.1:1)',
        '2026-01-01T00:00:09.000000000Z stderr F Echoing back request made to /b with spaces  kept',
        '',
      ].join('\n'),
    );
    assert.equal(readLogs(file, new URLSearchParams()), 'Starting server\nEchoing back request made to /a to client (10.0.0.1:1)\nEchoing back request made to /b with spaces  kept\n');
    assert.equal(readLogs(file, new URLSearchParams('sinceTime=2026-01-01T00:00:05Z')).split('\n').length - 1, 2);
    assert.equal(readLogs(file, new URLSearchParams('sinceTime=2026-01-01T00:00:06Z')), 'Echoing back request made to /b with spaces  kept\n');
    assert.equal(readLogs(file, new URLSearchParams('tailLines=1&timestamps=true')), '2026-01-01T00:00:09.000000000Z Echoing back request made to /b with spaces  kept\n');
    assert.equal(readLogs(file, new URLSearchParams('sinceSeconds=2'), Date.parse('2026-01-01T00:00:10Z')), 'Echoing back request made to /b with spaces  kept\n');
    assert.equal(readLogs(file, new URLSearchParams('limitBytes=8')), 'Starting');
    assert.equal(readLogs(join(dir, 'missing.log'), new URLSearchParams()), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A DNS query for `name` type A with id 0x1234, as a resolver would send it. */
function query(name: string, qtype = 1): Buffer {
  const labels = name.split('.').filter(Boolean).flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(qtype, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([header, ...labels, tail]);
}

test('the DNS stub answers an A query over UDP with the client address', async () => {
  const server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    const reply = dnsReply(msg, rinfo.address);
    if (reply) server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  const client = dgram.createSocket('udp4');
  try {
    const reply = await new Promise<Buffer>((resolve) => {
      client.once('message', (m) => resolve(m));
      client.send(query('foo.bar.com.'), server.address().port, '127.0.0.1');
    });
    assert.equal(reply.readUInt16BE(0), 0x1234, 'same id');
    assert.ok(reply[2] & 0x80, 'QR bit: a response');
    assert.equal(reply[3] & 0x0f, 0, 'NOERROR');
    assert.equal(reply.readUInt16BE(6), 1, 'one answer');
    assert.deepEqual([...reply.subarray(reply.length - 4)], [127, 0, 0, 1]);
  } finally {
    client.close();
    server.close();
  }
});

test('the DNS stub returns an empty answer for other types and ignores garbage', () => {
  const reply = dnsReply(query('foo.bar.com.', 28), '10.0.0.1');
  assert.ok(reply);
  assert.equal(reply.readUInt16BE(6), 0);
  assert.equal(dnsReply(Buffer.from([1, 2, 3]), '10.0.0.1'), undefined);
  const response = query('x.');
  response[2] |= 0x80;
  assert.equal(dnsReply(response, '10.0.0.1'), undefined);
});

test('pod IPs are handed out round-robin: a freed address is not reused at once (stale neighbour entries)', () => {
  const ips = new PodIPs('10.9.0.');
  assert.equal(ips.allocate(), '10.9.0.2');
  assert.equal(ips.allocate(), '10.9.0.3');
  ips.release('10.9.0.2');
  // Lowest-free would give .2 back to a new pod (new MAC) while the host still knows the old MAC.
  assert.equal(ips.allocate(), '10.9.0.4');
  const all = new Set<string>();
  for (let i = 0; i < 251; i++) all.add(ips.allocate()); // every other host address
  assert.ok(all.has('10.9.0.2') && all.has('10.9.0.254') && !all.has('10.9.0.1') && !all.has('10.9.0.255'));
  assert.throws(() => ips.allocate(), /exhausted/);
  ips.release('10.9.0.100');
  assert.equal(ips.allocate(), '10.9.0.100');
});
