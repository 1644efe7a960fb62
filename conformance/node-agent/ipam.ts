// Pod IP allocation on the node's /24 (hosts .2 to .254; .1 is the node on the bridge).
//
// Round-robin rather than lowest-free: an address freed a moment ago would come back to a new veth
// (a new MAC) while the host still holds a neighbour entry for the old MAC, and connections from
// the host to it would hang until that entry expires (~30 s). createPodNetns also flushes it.
export class PodIPs {
  private readonly used = new Set<string>();
  private last = 1;
  private readonly prefix: string;

  /** `prefix` is the /24 without its last byte and with the dot, e.g. "10.246.0.". */
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  allocate(): string {
    for (let n = 1; n <= 253; n++) {
      const host = ((this.last - 2 + n) % 253) + 2;
      const ip = this.prefix + host;
      if (!this.used.has(ip)) {
        this.used.add(ip);
        this.last = host;
        return ip;
      }
    }
    throw new Error('pod CIDR exhausted');
  }

  release(ip: string): void {
    this.used.delete(ip);
  }
}
