// IR → Generation: every table and matcher the request path needs, built once per generation.
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { IR, IRBackend, IRCertificate, IRFilter, IRGateway, IRHTTPRoute, IRListener, IRWeightedBackend, Source } from '../ir/types.ts';
import { HostTable } from './router/hosts.ts';
import { compileMatch } from './router/match.ts';
import { compileHeaderOps } from './filters/headers.ts';
import { compileCors } from './filters/cors.ts';
import { clientVerificationCA, listenerTlsOptions } from './listeners/tls-options.ts';
import type { PoolRegistry } from './upstream/pools.ts';
import type { Metrics } from './metrics.ts';
import type { RequestCounter } from './metrics.ts';
import type {
  BackendChoice, BackendRuntime, CompiledFilters, Generation, ListenerCerts, ListenerRuntime, PortConfig, RouteRuntime, VirtualHostRuntime,
} from './model.ts';

/**
 * Wait before the first retry when a retry stanza has no `backoff` (the spec leaves it to the
 * implementation; Envoy's base interval): an immediate retry hammers a backend that just failed,
 * and an attempt cut by backendRequest would race the backend still busy with it.
 */
const DEFAULT_RETRY_BACKOFF_MS = 25;

export interface CompileContext {
  bindAddress: string;
  pools: PoolRegistry;
  metrics: Metrics;
  /** SecureContexts by cert+key, reused across generations. */
  tlsCache: Map<string, SecureContext>;
  /** Contexts used by this generation (the cache of the next one). */
  tlsUsed: Map<string, SecureContext>;
  /** Internal, increasing apply counter: marks the pools this generation uses. */
  seq: number;
  /** Compiled output of earlier applies, reused for IR objects that kept their identity. */
  cache?: CompileCache;
  /**
   * Whether a reused listener table marks its metric series in use even when no sweep of stale
   * series happened since it last did (the engine sets it on applies followed by a sweep).
   * Default true.
   */
  markSeries?: boolean;
  /** `seq` of the latest apply after which stale metric series were swept (default: none). */
  sweptSeq?: number;
}

/**
 * What earlier generations compiled, by IR object identity (the incremental translator hands
 * over the very same objects for what did not change), so a one-route change recompiles one
 * route instead of all of them. Entries die with their IR objects.
 */
export interface CompileCache {
  backends: WeakMap<IRBackend, Map<string, BackendRuntime>>;
  routes: WeakMap<IRHTTPRoute, CachedRoute>;
  /** A listener's virtual host table by its virtualHosts array (kept when none of its routes changed). */
  vhosts: WeakMap<IRListener['virtualHosts'], CachedVhosts>;
}

interface CachedVhosts {
  gateway: string;
  listener: string;
  table: HostTable<VirtualHostRuntime>;
  /** Every backend the table's routes were compiled against, by id. */
  deps: Map<string, BackendRuntime | undefined>;
  /** Every metric series of the table's routes. */
  counters: RequestCounter[];
  /** `seq` of the apply that last marked them in use. */
  markedSeq: number;
}

interface CachedRoute {
  gateway: string;
  listener: string;
  /** The backends the route was compiled against, in the order compileRoute asked for them. */
  ids: (string | undefined)[];
  deps: (BackendRuntime | undefined)[];
  runtime: RouteRuntime;
}

export function newCompileCache(): CompileCache {
  return { backends: new WeakMap(), routes: new WeakMap(), vhosts: new WeakMap() };
}

export function compile(ir: IR, cx: CompileContext): Generation {
  const gen: Generation = { id: ir.generation, ports: new Map() };
  // Backends by id: one table shared by the Gateways without a backend client certificate, one
  // per Gateway with one (its connections present that certificate).
  const shared = new Map<string, BackendRuntime>();
  const backendsOf = (gw: IRGateway): ((id: string | undefined) => BackendRuntime | undefined) => {
    const own = gw.backendClientCertificate ? new Map<string, BackendRuntime>() : shared;
    const suffix = gw.backendClientCertificate ? sourceKey(gw.source) : '';
    return (id) => {
      if (id === undefined) return undefined;
      let b = own.get(id);
      if (b === undefined) {
        const irb = ir.backends[id];
        if (irb === undefined) return undefined;
        b = cachedBackend(irb, suffix, cx, gw.backendClientCertificate);
        own.set(id, b);
      }
      return b;
    };
  };

  const tlsNeighbours: { key: string; listener: ListenerRuntime; hostname: string | undefined }[] = [];
  for (const gw of ir.gateways) {
    const addresses = gw.addresses.length > 0 ? gw.addresses : [cx.bindAddress];
    const backendOf = backendsOf(gw);
    for (const l of gw.listeners) {
      if (l.protocol === 'TLS') {
        const placeholder = tlsPlaceholder(gw, l, cx);
        for (const address of addresses) tlsNeighbours.push({ key: `${address}:${l.port}`, listener: placeholder, hostname: l.hostname });
        continue;
      }
      if (l.protocol !== 'HTTP' && l.protocol !== 'HTTPS') continue;
      const runtime = compileListener(gw, l, cx, backendOf);
      for (const address of addresses) {
        const key = `${address}:${l.port}`;
        let port = gen.ports.get(key);
        if (port === undefined) {
          port = { key, address, port: l.port, protocol: l.protocol, listeners: new HostTable(), mtls: false };
          gen.ports.set(key, port);
        }
        // A port serves one protocol; listeners of the other protocol on it are conflicted and
        // translate() should not have sent them. Skip rather than guess.
        if (port.protocol !== l.protocol) continue;
        port.listeners.add(l.hostname, runtime);
        if (l.protocol === 'HTTPS') addCertificates(port, l, cx);
        if (l.tls?.clientValidation !== undefined) port.mtls = true;
        if (port.mtls || runtime.minTlsVersion !== undefined) port.checkConnections = true;
        if (runtime.minTlsVersion !== undefined || runtime.maxTlsVersion !== undefined) port.tlsVersions = true;
      }
    }
  }
  // An HTTPS port shared with TLS listeners (Terminate or Passthrough, chosen by SNI) knows their
  // hostnames too: a request whose Host belongs to one of them arrived on a connection made for
  // another name, and gets 421 (the handler's Host-versus-SNI check) instead of being served by
  // an HTTPS wildcard that also covers the name.
  for (const n of tlsNeighbours) {
    const port = gen.ports.get(n.key);
    if (port?.protocol === 'HTTPS') port.listeners.add(n.hostname, n.listener);
  }
  return gen;
}

/** A TLS listener's stand-in in an HTTPS port's listener table: no virtual hosts, never served. */
function tlsPlaceholder(gw: IRGateway, l: IRListener, cx: CompileContext): ListenerRuntime {
  const gateway = sourceKey(gw.source);
  const name = l.source.sectionName ?? l.id;
  return {
    id: l.id,
    gateway,
    name,
    port: l.port,
    scheme: 'https',
    vhosts: new HostTable(),
    noRoute: cx.metrics.counter(gateway, name, '', '', ''),
    latency: cx.metrics.requestHistogram(gateway, name),
  };
}

/** An HTTPS listener's TLS version range from its tls.options. */
function tlsVersions(l: IRListener): { minTlsVersion?: string; maxTlsVersion?: string } {
  const o = listenerTlsOptions(l.tls?.options);
  return { minTlsVersion: o.minVersion, maxTlsVersion: o.maxVersion };
}

function sourceKey(s: Source): string {
  return `${s.namespace ?? ''}/${s.name}`;
}

function compileListener(gw: IRGateway, l: IRListener, cx: CompileContext, backendOf: (id: string | undefined) => BackendRuntime | undefined): ListenerRuntime {
  const gateway = sourceKey(gw.source);
  const name = l.source.sectionName ?? l.id;
  const vhosts = cachedVhosts(l, gateway, name, cx, backendOf);
  return {
    id: l.id,
    gateway,
    name,
    port: l.port,
    scheme: l.protocol === 'HTTPS' ? 'https' : 'http',
    clientValidation: l.tls?.clientValidation?.mode,
    ...(l.protocol === 'HTTPS' ? tlsVersions(l) : {}),
    vhosts,
    noRoute: cx.metrics.counter(gateway, name, '', '', ''),
    latency: cx.metrics.requestHistogram(gateway, name),
  };
}

/**
 * The virtual host table of a listener: the one an earlier apply built for the same virtualHosts
 * array (the incremental translator keeps it when none of the listener's routes changed), when
 * it was for the same listener and its backends are the same, with its metric series marked in
 * use; else a new table of (cached) routes.
 */
function cachedVhosts(l: IRListener, gateway: string, listener: string, cx: CompileContext, backendOf: (id: string | undefined) => BackendRuntime | undefined): HostTable<VirtualHostRuntime> {
  const cache = cx.cache;
  const old = cache?.vhosts.get(l.virtualHosts);
  if (old !== undefined && old.gateway === gateway && old.listener === listener && reusable(old, cx, backendOf)) return old.table;
  const table = new HostTable<VirtualHostRuntime>();
  const entry: CachedVhosts = { gateway, listener, table, deps: new Map(), counters: [], markedSeq: cx.seq };
  for (const vh of l.virtualHosts) {
    table.add(vh.hostname, {
      routes: vh.routes.map((r) => {
        const runtime = cachedRoute(r, gateway, listener, cx, backendOf);
        const compiled = cache?.routes.get(r);
        compiled?.ids.forEach((id, i) => { if (id !== undefined) entry.deps.set(id, compiled.deps[i]); });
        entry.counters.push(runtime.counter, ...runtime.choices.map((c) => c.counter));
        return runtime;
      }),
    });
  }
  cache?.vhosts.set(l.virtualHosts, entry);
  return table;
}

/**
 * Whether a listener table still holds: same backends, and metric series still registered. The
 * series (one per route and backend: thousands) are visited only when a sweep may have dropped
 * some since they were last marked, or when this apply is followed by a sweep.
 */
function reusable(old: CachedVhosts, cx: CompileContext, backendOf: (id: string | undefined) => BackendRuntime | undefined): boolean {
  for (const [id, b] of old.deps) if (backendOf(id) !== b) return false;
  if (cx.markSeries === false && old.markedSeq > (cx.sweptSeq ?? -1)) return true;
  for (const c of old.counters) if (!cx.metrics.reuseCounter(c)) return false;
  old.markedSeq = cx.seq;
  return true;
}

/**
 * A backend compiled by an earlier apply for the same IR object and client certificate, when its
 * endpoints still get the same pools (marked used by this apply), else a new one.
 */
function cachedBackend(irb: IRBackend, key: string, cx: CompileContext, clientCert?: IRCertificate): BackendRuntime {
  const byKey = cx.cache?.backends.get(irb);
  const old = byKey?.get(key);
  if (old !== undefined && !old.broken
    && old.endpoints.every((e) => cx.pools.get(irb, e.address, e.port, cx.seq, clientCert).pool === e.pool)
    && cx.metrics.reuseHistogram(old.latency)
    && (old.retryBudget === undefined || cx.metrics.reuseBudget(old.retryBudget))) {
    return old;
  }
  const b = compileBackend(irb, cx.seq, cx, clientCert);
  if (cx.cache) {
    if (byKey) byKey.set(key, b);
    else cx.cache.backends.set(irb, new Map([[key, b]]));
  }
  return b;
}

/**
 * A route compiled by an earlier apply for the same IR object, on the same listener and against
 * the same backends, with its metric series marked in use; else a newly compiled one.
 */
function cachedRoute(r: IRHTTPRoute, gateway: string, listener: string, cx: CompileContext, backendOf: (id: string | undefined) => BackendRuntime | undefined): RouteRuntime {
  const cache = cx.cache;
  if (cache === undefined) return compileRoute(r, gateway, listener, cx, backendOf);
  const old = cache.routes.get(r);
  if (old !== undefined && old.gateway === gateway && old.listener === listener
    && old.ids.every((id, i) => backendOf(id) === old.deps[i])
    && cx.metrics.reuseCounter(old.runtime.counter) && old.runtime.choices.every((c) => cx.metrics.reuseCounter(c.counter))) {
    return old.runtime;
  }
  const ids: (string | undefined)[] = [];
  const deps: (BackendRuntime | undefined)[] = [];
  const runtime = compileRoute(r, gateway, listener, cx, (id) => {
    const b = backendOf(id);
    ids.push(id);
    deps.push(b);
    return b;
  });
  cache.routes.set(r, { gateway, listener, ids, deps, runtime });
  return runtime;
}

function compileRoute(r: IRHTTPRoute, gateway: string, listener: string, cx: CompileContext, backendOf: (id: string | undefined) => BackendRuntime | undefined): RouteRuntime {
  const routeName = sourceKey(r.source);
  const rule = r.source.ruleName ?? String(r.source.rule ?? 0);
  const filters = compileFilters(r.filters, backendOf);
  const choices: BackendChoice[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const wb of r.backends) {
    if (!(wb.weight > 0)) continue; // weight 0: never chosen
    choices.push(compileChoice(wb, gateway, listener, routeName, rule, cx, backendOf));
    total += wb.weight;
    cumulative.push(total);
  }
  const sp = r.sessionPersistence;
  return {
    source: r.source,
    label: `${routeName}/${rule}`,
    routeName,
    rule,
    grpc: r.kind === 'grpc',
    match: compileMatch(r.match),
    prefix: r.match.path.type === 'PathPrefix' ? r.match.path.value.replace(/\/$/, '') : undefined,
    filters,
    direct: r.directResponse ?? (r.backends.length === 0 && !filters.redirect && filters.directStatus === undefined ? { status: 500 } : undefined),
    choices,
    cumulative,
    totalWeight: total,
    counter: cx.metrics.counter(gateway, listener, routeName, rule, ''),
    requestMs: r.timeouts?.requestMs ?? 0,
    backendRequestMs: r.timeouts?.backendRequestMs ?? 0,
    retry: r.retry ? { codes: new Set(r.retry.codes), attempts: r.retry.attempts, backoffMs: r.retry.backoffMs ?? DEFAULT_RETRY_BACKOFF_MS } : undefined,
    session: sp
      ? {
          type: sp.type,
          name: sp.type === 'Header' ? sp.name.toLowerCase() : sp.name,
          cookieSuffix: `; Path=/; HttpOnly${sp.lifetimeType === 'Permanent' && sp.absoluteTimeoutMs ? `; Max-Age=${Math.floor(sp.absoluteTimeoutMs / 1000)}` : ''}`,
          absoluteMs: sp.absoluteTimeoutMs ?? 0,
          idleMs: sp.idleTimeoutMs ?? 0,
        }
      : undefined,
  };
}

function compileChoice(
  wb: IRWeightedBackend, gateway: string, listener: string, routeName: string, rule: string, cx: CompileContext,
  backendOf: (id: string | undefined) => BackendRuntime | undefined,
): BackendChoice {
  const backend = backendOf(wb.backendId);
  const name = wb.backendId ?? (wb.source ? sourceKey(wb.source) : 'invalid');
  return {
    backend,
    invalidStatus: backend === undefined ? wb.invalidStatus ?? 500 : 0,
    filters: compileFilters(wb.filters, backendOf),
    counter: cx.metrics.counter(gateway, listener, routeName, rule, name),
    name,
  };
}

export function compileFilters(list: IRFilter[], backendOf: (id: string | undefined) => BackendRuntime | undefined): CompiledFilters {
  const f: CompiledFilters = { requestHeaders: [], responseHeaders: [], mirrors: [], any: list.length > 0 };
  for (const x of list) {
    switch (x.type) {
      case 'RequestHeaderModifier': f.requestHeaders.push(compileHeaderOps(x)); break;
      case 'ResponseHeaderModifier': f.responseHeaders.push(compileHeaderOps(x)); break;
      case 'RequestRedirect':
        f.redirect = { scheme: x.scheme, hostname: x.hostname, port: x.port, path: x.path, statusCode: x.statusCode || 302 };
        break;
      case 'URLRewrite':
        if (x.hostname !== undefined) f.rewriteHost = x.hostname;
        if (x.path !== undefined) f.rewritePath = x.path;
        break;
      case 'RequestMirror': {
        const b = backendOf(x.backendId);
        if (b !== undefined && x.percent > 0) f.mirrors.push({ backend: b, percent: x.percent });
        break;
      }
      case 'CORS': f.cors = compileCors(x); break;
      case 'ExternalAuth':
        f.extAuth = {
          grpc: x.protocol === 'GRPC',
          backend: backendOf(x.backendId),
          path: x.path ?? '',
          allowedRequestHeaders: x.allowedRequestHeaders?.map((h) => h.toLowerCase()),
          allowedResponseHeaders: (x.allowedResponseHeaders ?? []).map((h) => h.toLowerCase()),
          forwardBodyMax: x.forwardBody?.maxSize ?? 0,
        };
        break;
      case 'DirectResponse': f.directStatus ??= x.status; break;
    }
  }
  return f;
}

function compileBackend(b: IRBackend, generation: number, cx: CompileContext, clientCert?: IRCertificate): BackendRuntime {
  const broken = b.tls?.invalid === true;
  let endpoints = b.endpoints;
  if (endpoints.length === 0 && b.externalName) endpoints = [];
  return {
    id: b.id,
    protocol: b.protocol,
    endpoints: broken ? [] : endpoints.map((e) => ({
      address: e.address,
      port: e.port,
      hostPort: `${e.address}:${e.port}`,
      ...cx.pools.get(b, e.address, e.port, generation, clientCert),
    })),
    next: 0,
    sni: b.tls?.sni,
    broken,
    latency: cx.metrics.upstreamHistogram(b.id),
    // One budget per Service, whichever of its ports (backends) the retries go to.
    retryBudget: b.retryBudget && cx.metrics.retryBudget(`${b.source.namespace ?? ''}/${b.source.name}`, b.retryBudget),
  };
}

function addCertificates(port: PortConfig, l: IRListener, cx: CompileContext): void {
  const certs = l.tls?.certificates ?? [];
  if (certs.length === 0) return;
  const entry: ListenerCerts = { certs: [] };
  let firstPem: { cert: string; key: string; ca?: string } | undefined;
  for (const c of certs) {
    const ctx = secureContext(c, l, cx);
    if (ctx === undefined) continue;
    let x509: X509Certificate | undefined;
    try { x509 = new X509Certificate(c.certPem); } catch { x509 = undefined; }
    entry.certs.push({ ctx, x509 });
    firstPem ??= { cert: c.certPem, key: c.keyPem, ca: clientVerificationCA(l.tls?.clientValidation) };
  }
  if (entry.certs.length === 0) return;
  if (port.tls === undefined) port.tls = { byHost: new HostTable(), fallback: entry.certs[0].ctx, fallbackPem: firstPem! };
  port.tls.byHost.add(l.hostname, entry);
}

function secureContext(c: IRCertificate, l: IRListener, cx: CompileContext): SecureContext | undefined {
  const ca = clientVerificationCA(l.tls?.clientValidation);
  const key = `${c.certPem}\0${c.keyPem}\0${ca ?? ''}`;
  let ctx = cx.tlsCache.get(key);
  if (ctx === undefined) {
    try {
      ctx = createSecureContext({ cert: c.certPem, key: c.keyPem, ca });
    } catch {
      return undefined; // a bad certificate never takes the port down; translate() reports it
    }
  }
  cx.tlsUsed.set(key, ctx);
  return ctx;
}
