// explainRequest(): which gateway, listener, virtual host, route rule and backends an HTTP
// request would reach, walking the IR the way the router does (listener by most specific
// hostname on the port, then virtual host, then the first matching route in IR order), or why
// it reaches none. Pure; used by `portico explain`.
import { RE2JS } from 're2js';
import type { IR, IRBackend, IRHTTPRoute, IRL4Route, IRListener, IRMatch, IRValueMatch, IRWeightedBackend, Source } from '../ir/types.ts';

export interface ExplainRequest {
  /** Host header / :authority (a port in it is ignored). */
  host: string;
  /** Path, optionally with "?query". */
  path: string;
  method?: string;
  /** Header names in any case. */
  headers?: Record<string, string>;
  /** Only listeners on this port. With a port, TLS (by SNI = host), TCP and UDP listeners are explained too. */
  port?: number;
}

export interface ExplainBackend {
  weight: number;
  /** Share of the rule's traffic, 0..1. */
  share: number;
  backendId?: string;
  backend?: IRBackend;
  /** Set for an invalid backendRef: the status answered for its share. */
  invalidStatus?: number;
}

export interface ExplainOutcome {
  gateway: Source;
  port: number;
  /** 'routed': a route matched; otherwise the response the router gives (404). */
  result: 'routed' | 'no-listener' | 'no-virtual-host' | 'no-route';
  listener?: IRListener;
  virtualHost?: string;
  route?: IRHTTPRoute;
  /** TLS / TCP / UDP listeners: the route the connection reaches. */
  l4Route?: IRL4Route;
  backends?: ExplainBackend[];
  /** Human-readable reasons, for the outcomes that are not 'routed' (and notes for those that are). */
  notes: string[];
}

export function explainRequest(ir: IR, req: ExplainRequest): ExplainOutcome[] {
  const host = normalizeHost(req.host);
  const [rawPath, rawQuery = ''] = splitOnce(req.path || '/', '?');
  const path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
  const query = new URLSearchParams(rawQuery);
  const method = (req.method ?? 'GET').toUpperCase();
  const headers = new Map(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  if (!headers.has('host')) headers.set('host', req.host);

  const outcomes: ExplainOutcome[] = [];
  for (const gw of ir.gateways) {
    const byPort = new Map<number, IRListener[]>();
    const l4: IRListener[] = [];
    for (const l of gw.listeners) {
      if (req.port !== undefined && l.port !== req.port) continue;
      if (l.protocol !== 'HTTP' && l.protocol !== 'HTTPS') {
        if (req.port !== undefined) l4.push(l);
        continue;
      }
      byPort.set(l.port, [...(byPort.get(l.port) ?? []), l]);
    }
    if (l4.length > 0) outcomes.push(...explainL4(ir, gw.source, l4, host));
    for (const [port, listeners] of byPort) {
      const outcome: ExplainOutcome = { gateway: gw.source, port, result: 'no-listener', notes: [] };
      outcomes.push(outcome);
      const listener = mostSpecific(listeners, (l) => l.hostname, host);
      if (!listener) {
        outcome.notes.push(`no listener on port ${port} accepts host "${host}" (listener hostnames: ${listeners.map((l) => l.hostname ?? '(any)').join(', ')}): 404`);
        continue;
      }
      outcome.listener = listener;
      const vh = mostSpecific(listener.virtualHosts, (v) => (v.hostname === '*' ? undefined : v.hostname), host);
      if (!vh) {
        outcome.result = 'no-virtual-host';
        outcome.notes.push(`no route attached to listener ${describeSource(listener.source)} serves host "${host}": 404`);
        continue;
      }
      outcome.virtualHost = vh.hostname;
      const route = vh.routes.find((r) => matchFailure(r.match, path, method, headers, query) === undefined);
      if (!route) {
        outcome.result = 'no-route';
        outcome.notes.push(`no route match on host "${vh.hostname}" matches ${method} ${path}: 404`);
        for (const r of vh.routes.slice(0, 20)) outcome.notes.push(`  ${describeSource(r.source)}: ${matchFailure(r.match, path, method, headers, query)}`);
        if (vh.routes.length > 20) outcome.notes.push(`  … and ${vh.routes.length - 20} more`);
        continue;
      }
      outcome.result = 'routed';
      outcome.route = route;
      outcome.backends = shares(ir, route.backends);
      if (route.directResponse) outcome.notes.push(`answered directly with status ${route.directResponse.status}`);
      else if (!outcome.backends.some((b) => b.weight > 0)) outcome.notes.push('the rule has no backend with weight: 500');
    }
  }
  return outcomes;
}

/** TLS listeners: by SNI (the host), then the first route whose hostnames take it; TCP / UDP: the first route. */
function explainL4(ir: IR, gateway: Source, listeners: IRListener[], sni: string): ExplainOutcome[] {
  const out: ExplainOutcome[] = [];
  const byProtocol = new Map<string, IRListener[]>();
  for (const l of listeners) byProtocol.set(l.protocol, [...(byProtocol.get(l.protocol) ?? []), l]);
  for (const [protocol, group] of byProtocol) {
    const port = group[0].port;
    const outcome: ExplainOutcome = { gateway, port, result: 'no-listener', notes: [] };
    out.push(outcome);
    const listener = protocol === 'TLS' ? mostSpecific(group, (l) => l.hostname, sni) : group[0];
    if (!listener) {
      outcome.notes.push(`no ${protocol} listener on port ${port} accepts SNI "${sni}": the connection is closed`);
      continue;
    }
    outcome.listener = listener;
    const route = protocol === 'TLS'
      ? listener.l4Routes.find((r) => r.hostnames.length === 0 || mostSpecific(r.hostnames, (h) => h, sni) !== undefined)
      : listener.l4Routes[0];
    if (!route) {
      outcome.result = 'no-route';
      outcome.notes.push(`no ${protocol === 'TLS' ? `route for SNI "${sni}"` : 'route'} on ${describeSource(listener.source)}: the connection is closed`);
      continue;
    }
    outcome.result = 'routed';
    outcome.l4Route = route;
    outcome.backends = shares(ir, route.backends);
  }
  return out;
}

function shares(ir: IR, backends: IRWeightedBackend[]): ExplainBackend[] {
  const total = backends.reduce((sum, b) => sum + b.weight, 0);
  return backends.map((b) => ({
    weight: b.weight,
    share: total > 0 ? b.weight / total : 0,
    backendId: b.backendId,
    backend: b.backendId !== undefined ? ir.backends[b.backendId] : undefined,
    invalidStatus: b.invalidStatus,
  }));
}

/** The item whose hostname matches host best: exact, then the longest wildcard, then any host (undefined). */
function mostSpecific<T>(items: readonly T[], hostnameOf: (item: T) => string | undefined, host: string): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const item of items) {
    const h = hostnameOf(item)?.toLowerCase();
    let score = -1;
    if (h === undefined || h === '' || h === '*') score = 0;
    else if (h.startsWith('*.')) score = host.endsWith(h.slice(1)) && host.length > h.length - 1 ? h.length : -1;
    else if (h === host) score = Number.MAX_SAFE_INTEGER;
    if (score > bestScore) {
      best = item;
      bestScore = score;
    }
  }
  return best;
}

/** Why a match does not apply to the request, or undefined when it does. */
function matchFailure(m: IRMatch, path: string, method: string, headers: Map<string, string>, query: URLSearchParams): string | undefined {
  const p = m.path;
  const pathOk = p.type === 'Exact' ? path === p.value
    : p.type === 'PathPrefix' ? prefixMatches(p.value, path)
    : fullMatch(p.value, path);
  if (!pathOk) return `path ${p.type} "${p.value}" does not match "${path}"`;
  if (m.method !== undefined && m.method !== method) return `method ${m.method} is not ${method}`;
  for (const h of m.headers) {
    const v = headers.get(h.name.toLowerCase());
    if (!valueMatches(h, v)) return `header ${h.name} ${h.type} "${h.value}" does not match ${v === undefined ? '(absent)' : `"${v}"`}`;
  }
  for (const q of m.queryParams) {
    const v = query.get(q.name) ?? undefined;
    if (!valueMatches(q, v)) return `query parameter ${q.name} ${q.type} "${q.value}" does not match ${v === undefined ? '(absent)' : `"${v}"`}`;
  }
  return undefined;
}

function valueMatches(m: IRValueMatch, v: string | undefined): boolean {
  if (v === undefined) return false;
  return m.type === 'Exact' ? v === m.value : fullMatch(m.value, v);
}

/** Whole path segments: "/foo" matches "/foo", "/foo/" and "/foo/bar", not "/foobar". */
function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p === '') return true;
  return path.startsWith(p) && (path.length === p.length || path[p.length] === '/');
}

function fullMatch(pattern: string, value: string): boolean {
  try {
    return RE2JS.compile(pattern).matches(value);
  } catch {
    return false;
  }
}

export function describeSource(s: Source): string {
  let out = `${s.kind} ${s.namespace ? `${s.namespace}/` : ''}${s.name}`;
  if (s.sectionName !== undefined) out += ` listener ${s.sectionName}`;
  if (s.rule !== undefined) out += ` rule ${s.rule}${s.ruleName ? ` (${s.ruleName})` : ''}`;
  if (s.match !== undefined) out += ` match ${s.match}`;
  return out;
}

/** A text rendering of the outcomes, for the terminal. */
export function formatExplanation(req: ExplainRequest, outcomes: ExplainOutcome[]): string {
  const lines: string[] = [`${(req.method ?? 'GET').toUpperCase()} ${req.path || '/'} (host "${normalizeHost(req.host)}")`];
  if (outcomes.length === 0) lines.push(req.port !== undefined ? `  no Gateway has a listener on port ${req.port}` : '  no Gateway has an HTTP or HTTPS listener');
  for (const o of outcomes) {
    lines.push('', `${describeSource(o.gateway)}, port ${o.port}:`);
    if (o.listener) lines.push(`  listener  ${o.listener.source.sectionName ?? o.listener.id} (${o.listener.protocol}, hostname ${o.listener.hostname ?? '(any)'})${o.listener.source.kind === 'ListenerSet' ? ` from ${describeSource({ ...o.listener.source, sectionName: undefined })}` : ''}`);
    if (o.virtualHost) lines.push(`  host      ${o.virtualHost}`);
    if (o.l4Route) lines.push(`  route     ${describeSource(o.l4Route.source)}${o.l4Route.hostnames.length ? ` (hostnames ${o.l4Route.hostnames.join(', ')})` : ''}`);
    if (o.route) {
      lines.push(`  route     ${describeSource(o.route.source)}`);
      const m = o.route.match;
      lines.push(`  match     path ${m.path.type} ${m.path.value}${m.method ? `, method ${m.method}` : ''}${m.headers.map((h) => `, header ${h.name} ${h.type} ${h.value}`).join('')}${m.queryParams.map((q) => `, query ${q.name} ${q.type} ${q.value}`).join('')}`);
      if (o.route.filters.length > 0) lines.push(`  filters   ${o.route.filters.map((f) => f.type).join(', ')}`);
    }
    for (const b of o.backends ?? []) {
      const pct = `${(b.share * 100).toFixed(b.share * 100 % 1 === 0 ? 0 : 1)}%`;
      if (b.backend) {
        const eps = b.backend.externalName ?? (b.backend.endpoints.map((e) => `${e.address}:${e.port}`).join(', ') || 'no ready endpoints');
        lines.push(`  backend   ${b.backend.id} weight ${b.weight} (${pct}) → ${eps}`);
      } else {
        lines.push(`  backend   invalid reference weight ${b.weight} (${pct}) → ${o.l4Route ? 'the connection is closed' : `answers ${b.invalidStatus ?? 500}`}`);
      }
    }
    for (const n of o.notes) lines.push(`  ${n}`);
  }
  return `${lines.join('\n')}\n`;
}

function normalizeHost(raw: string): string {
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[')) h = h.slice(0, h.indexOf(']') + 1);
  else if (h.includes(':')) h = h.slice(0, h.lastIndexOf(':'));
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}
