// Host lookup tables shared by listener selection, SNI and virtual hosts: exact names in a Map,
// wildcards ("*.example.com", matching one or more labels) by suffix, longest suffix first, then
// the catch-all. Built once per generation; lookups allocate only the suffix slices they probe.

export class HostTable<T> {
  private readonly exact = new Map<string, T>();
  /** Keyed by ".example.com" (the wildcard without its "*"). */
  private readonly wildcard = new Map<string, T>();
  private any: T | undefined;

  /** hostname: exact, "*.suffix", or undefined / "*" for any host. The first entry for a key wins. */
  add(hostname: string | undefined, value: T): void {
    if (hostname === undefined || hostname === '' || hostname === '*') {
      if (this.any === undefined) this.any = value;
      return;
    }
    const h = hostname.toLowerCase();
    if (h.startsWith('*.')) {
      const suffix = h.slice(1);
      if (!this.wildcard.has(suffix)) this.wildcard.set(suffix, value);
    } else if (!this.exact.has(h)) {
      this.exact.set(h, value);
    }
  }

  /** host must already be lower-case without port. */
  lookup(host: string): T | undefined {
    const hit = this.exact.get(host);
    if (hit !== undefined) return hit;
    if (this.wildcard.size > 0) {
      // Walking dots left to right probes the longest suffix first: the most specific wildcard.
      let i = host.indexOf('.');
      while (i >= 0) {
        const w = this.wildcard.get(host.slice(i));
        if (w !== undefined && i > 0) return w;
        i = host.indexOf('.', i + 1);
      }
    }
    return this.any;
  }

  values(): T[] {
    const out = [...this.exact.values(), ...this.wildcard.values()];
    if (this.any !== undefined) out.push(this.any);
    return out;
  }
}

/** Lower-cases a Host / :authority value and strips the port and a trailing dot. */
export function normalizeHost(raw: string | undefined): string {
  if (raw === undefined || raw === '') return '';
  let end = raw.length;
  if (raw.charCodeAt(0) === 91 /* [ */) {
    const close = raw.indexOf(']');
    end = close > 0 ? close + 1 : end;
  } else {
    const colon = raw.lastIndexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && raw.charCodeAt(end - 1) === 46 /* . */) end--;
  const h = end === raw.length ? raw : raw.slice(0, end);
  return hasUpper(h) ? h.toLowerCase() : h;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
