// Stand-in for the conformance suite's CoreDNS backend (image registry.k8s.io/coredns/coredns),
// which the node agent cannot run. Like CoreDNS's `whoami` plugin it answers every A query with
// one A record holding the address the query came from; other query types get an empty answer.
// The UDPRoute tests only need a DNS reply to come back through the Gateway.
//
// Usage (inside the pod's network namespace): node dns-stub.ts [port]   (default 53)
import dgram from 'node:dgram';

/** Builds the reply to one DNS query, or undefined if the packet is not a query we can parse. */
export function dnsReply(query: Buffer, clientIP: string): Buffer | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined; // exactly one question
  if (query[2] & 0x80) return undefined; // a response, not a query
  // Walk the question name (labels, no compression in questions) to find QTYPE/QCLASS.
  let off = 12;
  while (off < query.length && query[off] !== 0) off += query[off] + 1;
  off += 1;
  if (off + 4 > query.length) return undefined;
  const qtype = query.readUInt16BE(off);
  const question = query.subarray(12, off + 4);
  const octets = clientIP.replace(/^::ffff:/, '').split('.').map(Number);
  const answerA = qtype === 1 && octets.length === 4 && octets.every((n) => n >= 0 && n <= 255);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  header[2] = 0x80 | (query[2] & 0x79) | 0x04; // QR, opcode and RD copied, AA
  header[3] = 0x80; // RA, RCODE 0
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answerA ? 1 : 0, 6);
  const parts = [header, question];
  if (answerA) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(0, 6); // TTL
    rr.writeUInt16BE(4, 10);
    for (let i = 0; i < 4; i++) rr[12 + i] = octets[i];
    parts.push(rr);
  }
  return Buffer.concat(parts);
}

if (process.argv[1]?.endsWith('dns-stub.ts')) {
  const port = Number(process.argv[2] ?? 53);
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const reply = dnsReply(msg, rinfo.address);
    if (reply) sock.send(reply, rinfo.port, rinfo.address);
  });
  sock.bind(port, () => process.stdout.write(`dns stub listening on udp :${port}\n`));
}
