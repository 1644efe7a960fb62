// Gateway addresses in Kubernetes mode with the in-process ("host") data plane. A Gateway that
// asks for no address gets one from --address-pool (e.g. 127.1.0.0/24 on loopback). Assignments
// are kept in memory and are stable: a Gateway keeps its address for as long as it exists; new
// Gateways take the lowest free address in a deterministic order (creationTimestamp, then name,
// then namespace), so replicas that see the same Gateways assign the same addresses.
//
// The address reaches translate() through a copy of the Gateway whose spec.addresses carries it
// (the object in the cluster is never changed), so status.addresses reports it like any bound
// address.
import { isIP } from 'node:net';
import type { KubeObject } from '../../api/meta.ts';

export interface PoolGateway {
  /** "namespace/name". */
  key: string;
  name: string;
  namespace: string;
  creationTimestamp?: string;
}

export class AddressPoolError extends Error {}

export class AddressPool {
  readonly cidr: string;
  private readonly family: 4 | 6;
  private readonly first: bigint;
  private readonly last: bigint;
  private readonly assigned = new Map<string, bigint>();
  private readonly used = new Set<bigint>();

  constructor(cidr: string) {
    const m = /^(.+)\/(\d{1,3})$/.exec(cidr.trim());
    const family = m ? isIP(m[1]) : 0;
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || (family !== 4 && family !== 6) || prefix > (family === 4 ? 32 : 128)) {
      throw new AddressPoolError(`--address-pool: "${cidr}" is not an IPv4 or IPv6 CIDR such as 127.1.0.0/24`);
    }
    this.cidr = cidr.trim();
    this.family = family;
    const bits = family === 4 ? 32 : 128;
    const hostBits = BigInt(bits - prefix);
    const base = (toBigInt(m[1], family) >> hostBits) << hostBits;
    const size = 1n << hostBits;
    // Leave out the network address, and the IPv4 broadcast address, when the pool is big enough.
    this.first = size > 2n ? base + 1n : base;
    this.last = family === 4 && size > 2n ? base + size - 2n : base + size - 1n;
  }

  /**
   * An address of the pool's family that no host holds (the TEST-NET-1 network address, or the
   * IPv6 discard prefix), for Gateways the pool has none left for: binding it fails.
   */
  get unbindableAddress(): string {
    return this.family === 4 ? '192.0.2.0' : '100::';
  }

  /** Whether an IP address is one the pool hands out (e.g. to count it as local to this host). */
  contains(ip: string): boolean {
    const family = isIP(ip);
    if (family !== this.family) return false;
    const n = toBigInt(ip, family);
    return n >= this.first && n <= this.last;
  }

  /** Number of addresses the pool can hand out. */
  get size(): bigint {
    return this.last - this.first + 1n;
  }

  /**
   * Given every Gateway that wants a pool address now, returns their addresses (undefined when
   * the pool is exhausted). Gateways absent from the list release their address.
   */
  assign(gateways: readonly PoolGateway[]): Map<string, string | undefined> {
    const wanted = new Set(gateways.map((g) => g.key));
    for (const [key, ip] of this.assigned) {
      if (!wanted.has(key)) {
        this.assigned.delete(key);
        this.used.delete(ip);
      }
    }
    const ordered = [...gateways].sort(compareGateways);
    const out = new Map<string, string | undefined>();
    let cursor = this.first;
    for (const g of ordered) {
      let ip = this.assigned.get(g.key);
      if (ip === undefined) {
        while (cursor <= this.last && this.used.has(cursor)) cursor++;
        if (cursor <= this.last) {
          ip = cursor;
          this.assigned.set(g.key, ip);
          this.used.add(ip);
        }
      }
      out.set(g.key, ip === undefined ? undefined : fromBigInt(ip, this.family));
    }
    return out;
  }
}

function compareGateways(a: PoolGateway, b: PoolGateway): number {
  const ta = a.creationTimestamp ?? '';
  const tb = b.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** A Gateway with no requested address, i.e. one the pool serves. */
export function wantsPoolAddress(gateway: KubeObject): boolean {
  const spec = gateway.spec as { addresses?: unknown[] } | undefined;
  return !Array.isArray(spec?.addresses) || spec.addresses.length === 0;
}

/** A shallow copy of the Gateway whose spec.addresses carries the assigned IP address. */
export function withAssignedAddress(gateway: KubeObject, ip: string): KubeObject {
  const spec = (gateway.spec ?? {}) as Record<string, unknown>;
  return { ...gateway, spec: { ...spec, addresses: [{ type: 'IPAddress', value: ip }] } };
}

function toBigInt(ip: string, family: 4 | 6): bigint {
  if (family === 4) return ip.split('.').reduce((acc, part) => (acc << 8n) + BigInt(Number(part)), 0n);
  // Expand "::" and an embedded IPv4 tail into eight 16-bit groups.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = toBigInt(v4[1], 4);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
}

function fromBigInt(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
