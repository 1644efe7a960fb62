// The HTTP/1.1 upstream client's JavaScript fast path (whole responses in one read, see
// fastResponse in src/dataplane/upstream/h1.ts) next to the native parser: a raw backend writes
// exact bytes, in one write or split, and one keep-alive connection carries both kinds of answer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { H1Client, type H1Request } from '../src/dataplane/upstream/h1.ts';

interface Answer { status: number; headers: Record<string, unknown>; body: string; err?: Error }

function call(client: H1Client, opts: Partial<H1Request>): Promise<Answer> {
  return new Promise((resolve) => {
    const a: Answer = { status: 0, headers: {}, body: '' };
    client.dispatch({ method: 'GET', path: '/', headers: { host: 'x' }, body: null, ...opts }, {
      onResponseStart: (_c, status, headers) => { a.status = status; a.headers = headers; },
      onResponseData: (_c, chunk) => { a.body += chunk.toString(); },
      onResponseEnd: () => resolve(a),
      onResponseError: (_c, err) => { a.err = err; resolve(a); },
    });
  });
}

/** Answers by request path; `/split` sends head and body in two writes (the native parser's case). */
const answers: Record<string, string> = {
  '/whole': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pad:  \t two words \t\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\nhello',
  '/empty': 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n',
  '/nospace': 'HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nok',
  '/bad': 'HTTP/1.1 200 OK\r\nbad header: x\r\ncontent-length: 2\r\n\r\nok',
  '/twolengths': 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok!',
};
const connections = new Set<net.Socket>();
let accepted = 0;
const raw = net.createServer((sock) => {
  connections.add(sock);
  accepted++;
  sock.on('data', (d) => {
    const path = d.toString('latin1').split(' ')[1];
    if (path === '/split') {
      sock.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nsp');
      setTimeout(() => sock.write('li'), 20);
    } else {
      sock.write(answers[path] ?? 'HTTP/1.1 500 No\r\ncontent-length: 0\r\n\r\n');
    }
  });
});
await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
const client = new H1Client('127.0.0.1', (raw.address() as net.AddressInfo).port);
after(async () => {
  await client.close();
  raw.close();
  for (const s of connections) s.destroy();
});

test('whole responses: lower-cased names, repeated headers as arrays, values trimmed of spaces and tabs only', async () => {
  const a = await call(client, { path: '/whole' });
  assert.equal(a.status, 200);
  assert.equal(a.body, 'hello');
  assert.equal(a.headers['content-type'], 'text/plain');
  assert.equal(a.headers['x-pad'], 'two words');
  assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
  const e = await call(client, { path: '/empty' });
  assert.deepEqual([e.status, e.body], [404, '']);
});

test('one connection carries whole and split answers alike; answers the fast path declines still parse', async () => {
  await call(client, { path: '/whole' });
  const before = accepted;
  for (const path of ['/whole', '/split', '/nospace', '/whole', '/split']) {
    const a = await call(client, { path });
    assert.equal(a.err, undefined, path);
    assert.equal(a.body, { '/whole': 'hello', '/split': 'spli', '/nospace': 'ok' }[path], path);
  }
  assert.equal(accepted, before, 'no new backend connection');
});

test('malformed answers are errors, as the native parser says, not guesses', async () => {
  const bad = await call(client, { path: '/bad' });
  assert.ok(bad.err !== undefined);
  const two = await call(client, { path: '/twolengths' });
  assert.ok(two.err !== undefined);
});
