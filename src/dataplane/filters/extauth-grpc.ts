// ExternalAuth with protocol GRPC: Envoy's ext_authz v3 Authorization/Check over gRPC. Only the
// few protobuf fields Portico sends and reads are encoded here by hand (field numbers from
// envoy/service/auth/v3/{external_auth,attribute_context}.proto), so no protobuf runtime is needed:
//
//   CheckRequest   { attributes(1): AttributeContext { request(4): Request { http(2): HttpRequest {
//                      id(1) method(2) headers(3: map) path(4) host(5) scheme(6) query(7)
//                      size(9) protocol(10) raw_body(12) } } } }
//   CheckResponse  { status(1): google.rpc.Status { code(1) message(2) },
//                    denied_response(2): { status(1): { code(1) }, headers(2), body(3) },
//                    ok_response(3): { headers(2), headers_to_remove(5) } }
//   HeaderValueOption { header(1): { key(1) value(2) raw_value(3) }, append(2): BoolValue { value(1) } }

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface CheckInput {
  method: string;
  path: string;
  query: string;
  host: string;
  scheme: string;
  protocol: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

export interface HeaderOption {
  key: string;
  value: string;
  append: boolean;
}

export type CheckResult =
  | { allowed: true; headers: HeaderOption[]; remove: string[] }
  | { allowed: false; status: number; headers: HeaderOption[]; body: string };

// ---- encoding --------------------------------------------------------------------------------

function varint(out: number[], n: number): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** A length-delimited field: tag, length, bytes. */
function field(num: number, bytes: Buffer): Buffer {
  const head: number[] = [];
  varint(head, (num << 3) | 2);
  varint(head, bytes.length);
  return Buffer.concat([Buffer.from(head), bytes]);
}

const str = (num: number, s: string): Buffer => (s === '' ? Buffer.alloc(0) : field(num, Buffer.from(s)));

function intField(num: number, n: number): Buffer {
  const out: number[] = [];
  varint(out, num << 3);
  varint(out, n);
  return Buffer.from(out);
}

/** The CheckRequest message for one client request. */
export function encodeCheckRequest(c: CheckInput): Buffer {
  const parts: Buffer[] = [str(2, c.method)];
  for (const k in c.headers) parts.push(field(3, Buffer.concat([str(1, k), str(2, c.headers[k])])));
  parts.push(str(4, c.path), str(5, c.host), str(6, c.scheme), str(7, c.query));
  if (c.body !== null) parts.push(intField(9, c.body.length));
  parts.push(str(10, c.protocol));
  if (c.body !== null && c.body.length > 0) parts.push(field(12, c.body));
  const http = Buffer.concat(parts);
  return field(1, field(4, field(2, http)));
}

/** gRPC length-prefixed message (uncompressed). */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

// ---- decoding --------------------------------------------------------------------------------

interface Field { num: number; wire: number; int?: number; bytes?: Buffer }

/** Top-level fields of a message; throws on malformed input (the caller fails closed). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const readVarint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error('varint too long');
    }
  };
  while (i < buf.length) {
    const tag = readVarint();
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) out.push({ num, wire, int: readVarint() });
    else if (wire === 2) {
      const len = readVarint();
      if (i + len > buf.length) throw new Error('truncated field');
      out.push({ num, wire, bytes: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const sub = (fs: Field[], num: number): Buffer | undefined => fs.find((f) => f.num === num && f.bytes !== undefined)?.bytes;
const int = (fs: Field[], num: number): number => {
  const f = fs.find((x) => x.num === num && x.int !== undefined);
  // int32 negatives arrive as 10-byte varints; status codes are small and positive.
  return f?.int ?? 0;
};

function headerOptions(fs: Field[], num: number): HeaderOption[] {
  const out: HeaderOption[] = [];
  for (const f of fs) {
    if (f.num !== num || f.bytes === undefined) continue;
    const opt = fields(f.bytes);
    const hv = fields(sub(opt, 1) ?? Buffer.alloc(0));
    const key = (sub(hv, 1) ?? Buffer.alloc(0)).toString().toLowerCase();
    const value = (sub(hv, 2) ?? sub(hv, 3) ?? Buffer.alloc(0)).toString();
    const append = int(fields(sub(opt, 2) ?? Buffer.alloc(0)), 1) === 1;
    if (key !== '') out.push({ key, value, append });
  }
  return out;
}

/** Reads a CheckResponse message. */
export function decodeCheckResponse(msg: Buffer): CheckResult {
  const top = fields(msg);
  const code = int(fields(sub(top, 1) ?? Buffer.alloc(0)), 1);
  if (code === 0) {
    const ok = fields(sub(top, 3) ?? Buffer.alloc(0));
    const remove = ok.filter((f) => f.num === 5 && f.bytes !== undefined).map((f) => f.bytes!.toString().toLowerCase());
    return { allowed: true, headers: headerOptions(ok, 2), remove };
  }
  const denied = fields(sub(top, 2) ?? Buffer.alloc(0));
  const status = int(fields(sub(denied, 1) ?? Buffer.alloc(0)), 1);
  return {
    allowed: false,
    // HttpStatus codes are HTTP status numbers; a denial without one is 403, as Envoy answers.
    status: status >= 200 && status <= 599 ? status : 403,
    headers: headerOptions(denied, 2),
    body: (sub(denied, 3) ?? Buffer.alloc(0)).toString(),
  };
}

/** The first message of a gRPC response body (length-prefixed; compression is not negotiated). */
export function firstMessage(body: Buffer): Buffer {
  if (body.length < 5 || body[0] !== 0) throw new Error('no uncompressed gRPC message');
  const len = body.readUInt32BE(1);
  if (body.length < 5 + len) throw new Error('truncated gRPC message');
  return body.subarray(5, 5 + len);
}
