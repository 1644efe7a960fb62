// IR to worker processes: unchanged parts go as references and come out as the very objects the
// worker decoded before (so its compile cache works), changed parts in full; a worker that lost
// its parts is sent everything again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WireDecoder, WireEncoder } from '../src/dataplane/ir-wire.ts';
import type { IR } from '../src/ir/types.ts';
import { backend, ir, listener, match, route, to } from './support/ir.ts';

const echo = { port: 1, close: async () => {} } as never;

/** Through JSON, as the IPC channel carries it. */
const overTheWire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

test('unchanged virtual hosts and backends arrive as the objects the worker already holds', () => {
  const enc = new WireEncoder();
  const dec = new WireDecoder();
  let holds = new Set<number>();
  const send = (x: IR) => {
    const r = enc.encode(x, holds);
    holds = r.holds;
    return { size: JSON.stringify(r.wire).length, ir: dec.decode(overTheWire(r.wire)) };
  };
  const one = listener('one', 1, { 'a.example': [route('r1', match(), [to('a')])] });
  const two = listener('two', 2, { 'b.example': [route('r2', match(), [to('b')])] });
  const ba = backend('a', echo);
  const bb = backend('b', echo);
  const first = send(ir(1, [one, two], [ba, bb]));
  assert.deepEqual(first.ir, overTheWire(ir(1, [one, two], [ba, bb])));
  // Listener "two" gets a new route; "one" and both backends are unchanged.
  const two2 = listener('two', 2, { 'b.example': [route('r2', match(), [to('b')]), route('r3', match(), [to('a')])] });
  const second = send(ir(2, [one, two2], [ba, bb]));
  assert.deepEqual(second.ir, overTheWire(ir(2, [one, two2], [ba, bb])));
  assert.equal(second.ir.gateways[0].listeners[0].virtualHosts, first.ir.gateways[0].listeners[0].virtualHosts);
  assert.notEqual(second.ir.gateways[0].listeners[1].virtualHosts, first.ir.gateways[0].listeners[1].virtualHosts);
  assert.equal(second.ir.backends.a, first.ir.backends.a);
  assert.ok(second.size < first.size, 'only the changed listener is sent in full');
  // A worker that lost its parts (restarted, or failed to decode) is sent everything again.
  const fresh = new WireDecoder();
  assert.throws(() => fresh.decode(overTheWire(enc.encode(ir(3, [one, two2], [ba, bb]), holds).wire)), /unknown/);
  const full = enc.encode(ir(3, [one, two2], [ba, bb]), new Set());
  assert.deepEqual(fresh.decode(overTheWire(full.wire)), overTheWire(ir(3, [one, two2], [ba, bb])));
});
