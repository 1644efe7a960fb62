// Assembles the IR from the decided state: live listeners by port then hostname specificity;
// per HTTP(S) listener, virtual hosts most specific first, each holding its own routes then
// the routes of every less specific hostname that covers it (the spec's hostname-first
// precedence, so a request never misses a route a wildcard would have given it).
import type { IR, IRGateway, IRHTTPRoute, IRL4Route, IRListener, IRVirtualHost, ListenerProtocol } from '../ir/types.ts';
import { listenerLive } from './gateway.ts';
import { cmpHostSpecificity } from './hostnames.ts';
import { cmpKey } from './precedence.ts';
import type { GatewayState, ListenerState } from './state.ts';
import { cmpStr } from './util.ts';

/**
 * A listener's routes as last built, with what they were built from (incremental.ts): the
 * protocol, then its attachments. The same Attachment objects in the same order mean the same
 * routes (an attachment is only replayed with the compilation it was made for), the same
 * hostnames and the same relative precedence (unchanged routes keep their relative order),
 * hence the same virtual hosts.
 */
export interface ListenerMemo {
  sig: unknown[];
  virtualHosts: IRVirtualHost[];
  l4Routes: IRL4Route[];
}

export function buildIR(
  generation: number, gateways: GatewayState[], backends: IR['backends'],
  cache?: { listeners: Map<string, ListenerMemo>; gatewayIR?: Map<GatewayState, IRGateway> },
): IR {
  const out: IRGateway[] = [];
  const next = cache ? new Map<string, ListenerMemo>() : undefined;
  const byGateway = cache ? new Map<GatewayState, IRGateway>() : undefined;
  for (const gw of gateways) {
    const g = buildGatewayIR(gw, cache?.listeners, next);
    if (!g) continue;
    byGateway?.set(gw, g);
    out.push(g);
  }
  if (cache) {
    cache.listeners = next!;
    cache.gatewayIR = byGateway;
  }
  return { generation, gateways: out, backends };
}

/**
 * One Gateway's IR (undefined when none of its listeners is live). Listener memos are read from
 * `prev` and the ones used written to `next` (the same map: updated in place).
 */
export function buildGatewayIR(gw: GatewayState, prev?: Map<string, ListenerMemo>, next?: Map<string, ListenerMemo>): IRGateway | undefined {
  const live = [...gw.listeners, ...gw.setListeners].filter(listenerLive);
  if (live.length === 0) return undefined;
  live.sort((a, b) => a.port - b.port || cmpHostSpecificity(a.hostname, b.hostname) || cmpStr(a.id, b.id));
  const g: IRGateway = {
    source: { kind: 'Gateway', namespace: gw.namespace, name: gw.name },
    addresses: [...gw.addresses],
    listeners: live.map((l) => buildListener(l, prev, next)),
  };
  if (gw.backendClientCertificate) g.backendClientCertificate = gw.backendClientCertificate;
  return g;
}

/** Whether a listener's attachments are those a memo was built from (no allocation: the hot case). */
function sameSignature(l: ListenerState, sig: unknown[]): boolean {
  const atts = l.attachments;
  if (sig.length !== 1 + atts.length || sig[0] !== l.protocol) return false;
  for (let i = 0; i < atts.length; i++) if (sig[i + 1] !== atts[i]) return false;
  return true;
}

function signature(l: ListenerState): unknown[] {
  return [l.protocol, ...l.attachments];
}

function buildListener(
  l: ListenerState, prev?: Map<string, ListenerMemo>, next?: Map<string, ListenerMemo>,
): IRListener {
  const ir: IRListener = {
    source: { kind: l.ownerKind, namespace: l.owner.metadata.namespace ?? 'default', name: l.owner.metadata.name, sectionName: l.name },
    id: l.id,
    port: l.port,
    protocol: l.protocol as ListenerProtocol,
    virtualHosts: [],
    l4Routes: [],
  };
  if (l.hostname !== undefined) ir.hostname = l.hostname;
  if (l.tls) ir.tls = l.tls;
  const memo = prev?.get(l.id);
  if (next && memo && sameSignature(l, memo.sig)) {
    ir.virtualHosts = memo.virtualHosts;
    ir.l4Routes = memo.l4Routes;
    next.set(l.id, memo);
    return ir;
  }
  if (l.protocol === 'HTTP' || l.protocol === 'HTTPS') ir.virtualHosts = virtualHosts(l);
  else ir.l4Routes = l4Routes(l);
  if (next) next.set(l.id, { sig: signature(l), virtualHosts: ir.virtualHosts, l4Routes: ir.l4Routes });
  return ir;
}

function virtualHosts(l: ListenerState): IRVirtualHost[] {
  const buckets = new Map<string, { route: IRHTTPRoute; key: (number | string)[] }[]>();
  for (const a of l.attachments) {
    const cr = a.route.compiled;
    if (!cr) continue;
    for (const h of a.hostnames) {
      let b = buckets.get(h);
      if (!b) buckets.set(h, (b = []));
      for (const e of cr.http) b.push(e);
    }
  }
  const sorted = new Map<string, IRHTTPRoute[]>();
  for (const [h, list] of buckets) {
    list.sort((x, y) => cmpKey(x.key, y.key));
    sorted.set(h, list.map((e) => e.route));
  }
  const hosts = [...sorted.keys()].sort(cmpHostSpecificity);
  return hosts.map((hostname) => {
    const routes: IRHTTPRoute[] = [...sorted.get(hostname)!];
    for (const cover of coveringHosts(hostname)) {
      const more = sorted.get(cover);
      if (more) for (const r of more) routes.push(r);
    }
    return { hostname, routes };
  });
}

/** Less specific hostnames that match everything `h` matches, most specific first. */
export function coveringHosts(h: string): string[] {
  if (h === '*') return [];
  const labels = (h.startsWith('*.') ? h.slice(2) : h).split('.');
  const out: string[] = [];
  // "a.b.c" is covered by "*.b.c", "*.c"; "*.b.c" by "*.c".
  for (let i = 1; i < labels.length; i++) out.push('*.' + labels.slice(i).join('.'));
  out.push('*');
  return out;
}

function l4Routes(l: ListenerState): IRL4Route[] {
  const out: { r: IRL4Route; order: number }[] = [];
  for (const a of l.attachments) {
    const cr = a.route.compiled;
    if (!cr) continue;
    const hostnames = l.protocol === 'TLS' && !a.hostnames.includes('*') ? [...a.hostnames].sort(cmpHostSpecificity) : [];
    for (const r of cr.l4) out.push({ r: { ...r, hostnames }, order: cr.state.order });
  }
  out.sort((x, y) => x.order - y.order || (x.r.source.rule ?? 0) - (y.r.source.rule ?? 0));
  return out.map((x) => x.r);
}
