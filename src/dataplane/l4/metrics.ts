// Layer-4 counters, process-wide, rendered as Prometheus text by l4Metrics(). Counters outlive the
// servers that feed them (a port closed and reopened keeps counting), as Prometheus expects.
//
// Byte counts of TCP connections come from the sockets themselves (bytesRead / bytesWritten), read
// when a connection closes and, for connections still open, at render time: nothing is counted per
// chunk on the hot path.
import type { Socket } from 'node:net';

export type L4Protocol = 'TLS' | 'TCP' | 'UDP';

interface Labels {
  /** Listener id (IRListener.id); "" before a TLS listener is chosen from the SNI. */
  listener: string;
  protocol: L4Protocol;
  port: number;
}

/** A counter's storage; hot paths hold on to it and add to `v` directly. */
export interface Cell {
  v: number;
}

const counters = new Map<string, Cell>();
const gauges = new Map<string, number>();
const live = new Set<{ key: string; socket: Socket }>();

const HELP: Record<string, [string, 'counter' | 'gauge']> = {
  portico_l4_connections_total: ['Downstream TCP connections routed to a backend.', 'counter'],
  portico_l4_connections_active: ['Downstream TCP connections currently proxied.', 'gauge'],
  portico_l4_connections_rejected_total: ['Downstream connections closed without being proxied, by reason.', 'counter'],
  portico_l4_upstream_connect_errors_total: ['Failed connection attempts to backend endpoints.', 'counter'],
  portico_l4_received_bytes_total: ['Bytes received from downstream clients.', 'counter'],
  portico_l4_sent_bytes_total: ['Bytes sent to downstream clients.', 'counter'],
  portico_l4_udp_sessions_total: ['UDP sessions created.', 'counter'],
  portico_l4_udp_sessions_active: ['UDP sessions currently open.', 'gauge'],
  portico_l4_udp_datagrams_total: ['UDP datagrams forwarded, by direction.', 'counter'],
  portico_l4_udp_datagrams_dropped_total: ['UDP datagrams dropped, by reason.', 'counter'],
};

function labelText(l: Labels, extra?: Record<string, string>): string {
  const parts = [`listener="${esc(l.listener)}"`, `protocol="${l.protocol}"`, `port="${l.port}"`];
  for (const [k, v] of Object.entries(extra ?? {})) parts.push(`${k}="${esc(v)}"`);
  return parts.join(',');
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function series(name: string, l: Labels, extra?: Record<string, string>): string {
  return `${name}{${labelText(l, extra)}}`;
}

/** The storage of one counter series, created at zero. */
export function counterCell(name: string, l: Labels, extra?: Record<string, string>): Cell {
  const k = series(name, l, extra);
  let c = counters.get(k);
  if (!c) counters.set(k, (c = { v: 0 }));
  return c;
}

export function count(name: string, l: Labels, extra?: Record<string, string>, by = 1): void {
  counterCell(name, l, extra).v += by;
}

export function gauge(name: string, l: Labels, delta: number): void {
  const k = series(name, l);
  gauges.set(k, (gauges.get(k) ?? 0) + delta);
}

/** Counts an accepted, routed connection and its bytes until it closes. */
export function trackConnection(l: Labels, socket: Socket): void {
  count('portico_l4_connections_total', l);
  gauge('portico_l4_connections_active', l, 1);
  const entry = { key: labelText(l), socket };
  live.add(entry);
  socket.once('close', () => {
    live.delete(entry);
    gauge('portico_l4_connections_active', l, -1);
    count('portico_l4_received_bytes_total', l, undefined, socket.bytesRead);
    count('portico_l4_sent_bytes_total', l, undefined, socket.bytesWritten);
  });
}

/** Prometheus text exposition of every layer-4 series (HELP/TYPE once per family). */
export function l4Metrics(): string {
  const values = new Map<string, number>();
  for (const [k, c] of counters) values.set(k, c.v);
  for (const [k, v] of gauges) values.set(k, v);
  for (const { key, socket } of live) {
    add(values, `portico_l4_received_bytes_total{${key}}`, socket.bytesRead);
    add(values, `portico_l4_sent_bytes_total{${key}}`, socket.bytesWritten);
  }
  const byFamily = new Map<string, string[]>();
  for (const k of [...values.keys()].sort()) {
    const family = k.slice(0, k.indexOf('{'));
    let lines = byFamily.get(family);
    if (!lines) byFamily.set(family, (lines = []));
    lines.push(`${k} ${values.get(k)}`);
  }
  let out = '';
  for (const [family, lines] of byFamily) {
    const [help, type] = HELP[family] ?? ['', 'counter'];
    out += `# HELP ${family} ${help}\n# TYPE ${family} ${type}\n${lines.join('\n')}\n`;
  }
  return out;
}

/** Current value of one series (tests and the admin API). */
export function l4MetricValue(name: string, l: Labels, extra?: Record<string, string>): number {
  const k = series(name, l, extra);
  let v = counters.get(k)?.v ?? gauges.get(k) ?? 0;
  if (name === 'portico_l4_received_bytes_total' || name === 'portico_l4_sent_bytes_total') {
    const key = labelText(l);
    for (const e of live) {
      if (e.key === key) v += name === 'portico_l4_received_bytes_total' ? e.socket.bytesRead : e.socket.bytesWritten;
    }
  }
  return v;
}

function add(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}
