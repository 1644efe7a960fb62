// UDP listeners (UDPRoute): one socket per listener address:port, and one session per client
// address:port. A session picks one weighted backend endpoint when it starts and keeps it (affinity)
// for its whole life; it owns an upstream socket bound to an ephemeral port and connected to that
// endpoint, so replies are matched to the client without any lookup, and only the chosen endpoint
// can answer. A session ends after idleTimeoutMs without a datagram in either direction.
//
// As with TCP, the first UDP listener in IR order and its first route serve the port.
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { IRL4Route, IRListener } from '../../ir/types.ts';
import { Balancer } from './balance.ts';
import type { Backends } from './common.ts';
import { count, counterCell, gauge } from './metrics.ts';
import type { Cell } from './metrics.ts';

export interface UdpOptions {
  /** Session idle timeout. Default 60 s. */
  idleTimeoutMs?: number;
  /** Most concurrent sessions; datagrams that would open more are dropped. Default 10 000. */
  maxSessions?: number;
  /** Datagrams held per session while its upstream socket connects. Default 64. */
  maxQueuedDatagrams?: number;
}

export interface UdpProxy {
  /** The bound downstream socket. */
  readonly socket: dgram.Socket;
  address(): AddressInfo;
  /** Swaps the configuration for new sessions; open sessions keep their endpoint. */
  update(listeners: IRListener[], backends: Backends, options?: UdpOptions): void;
  /** Number of open sessions. */
  readonly sessions: number;
  close(): Promise<void>;
}

interface Session {
  upstream: dgram.Socket;
  /** Datagrams waiting for the upstream socket to be connected; null once it is. */
  queue: Buffer[] | null;
  timer: NodeJS.Timeout;
  labels: { listener: string; protocol: 'UDP'; port: number };
  /** Counter cells looked up once per session, not per datagram. */
  cells: { datagramsIn: Cell; datagramsOut: Cell; bytesIn: Cell; bytesOut: Cell };
}

interface UdpTable {
  listener?: IRListener;
  route?: IRL4Route;
  backends: Backends;
}

/** Binds `address:port` (port 0: ephemeral) and starts proxying; rejects on bind errors. */
export async function createUdpProxy(address: string, port: number, listeners: IRListener[], backends: Backends, options: UdpOptions = {}): Promise<UdpProxy> {
  let idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  let maxSessions = options.maxSessions ?? 10_000;
  let maxQueued = options.maxQueuedDatagrams ?? 64;
  const balancer = new Balancer();
  const sessions = new Map<string, Session>();
  let table = compile(listeners, backends);
  const socket = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });

  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      try {
        socket.close();
      } catch {
        // already closed by the failed bind
      }
      reject(err);
    };
    socket.once('error', failed);
    socket.bind(port, address, () => {
      socket.removeListener('error', failed);
      resolve();
    });
  });
  const boundPort = socket.address().port;
  const labelsOf = (t: UdpTable) => ({ listener: t.listener?.id ?? '', protocol: 'UDP' as const, port: boundPort });
  // Errors on an unconnected UDP socket (e.g. ICMP-triggered) must never crash the process.
  socket.on('error', () => {});

  const endSession = (key: string, s: Session) => {
    if (sessions.get(key) !== s) return;
    sessions.delete(key);
    clearTimeout(s.timer);
    s.upstream.close();
    gauge('portico_l4_udp_sessions_active', s.labels, -1);
  };

  const startSession = (key: string, rinfo: dgram.RemoteInfo): Session | undefined => {
    const labels = labelsOf(table);
    const drop = (reason: string) => {
      count('portico_l4_udp_datagrams_dropped_total', labels, { reason });
      return undefined;
    };
    if (!table.route) return drop('no_route');
    if (sessions.size >= maxSessions) return drop('too_many_sessions');
    const pick = balancer.pick(table.route.backends, table.backends);
    if (!pick.ok) return drop(pick.reason);
    const ep = pick.endpoints[0];
    const upstream = dgram.createSocket(net.isIPv6(ep.address) ? 'udp6' : 'udp4');
    const cells = {
      datagramsIn: counterCell('portico_l4_udp_datagrams_total', labels, { direction: 'client_to_upstream' }),
      datagramsOut: counterCell('portico_l4_udp_datagrams_total', labels, { direction: 'upstream_to_client' }),
      bytesIn: counterCell('portico_l4_received_bytes_total', labels),
      bytesOut: counterCell('portico_l4_sent_bytes_total', labels),
    };
    const s: Session = { upstream, queue: [], timer: setTimeout(() => endSession(key, s), idleTimeoutMs), labels, cells };
    s.timer.unref();
    sessions.set(key, s);
    count('portico_l4_udp_sessions_total', labels);
    gauge('portico_l4_udp_sessions_active', labels, 1);
    upstream.on('error', () => endSession(key, s));
    upstream.on('message', (msg) => {
      s.timer.refresh();
      cells.datagramsOut.v++;
      cells.bytesOut.v += msg.length;
      safeSend(() => socket.send(msg, rinfo.port, rinfo.address));
    });
    // connect() binds an ephemeral port first, then fixes the peer: only the endpoint can reply.
    upstream.connect(ep.port, ep.address, () => {
      if (sessions.get(key) !== s) return;
      const queued = s.queue ?? [];
      s.queue = null;
      for (const m of queued) safeSend(() => upstream.send(m));
    });
    return s;
  };

  socket.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}|${rinfo.port}`;
    const s = sessions.get(key) ?? startSession(key, rinfo);
    if (!s) return;
    s.timer.refresh();
    s.cells.datagramsIn.v++;
    s.cells.bytesIn.v += msg.length;
    if (s.queue === null) safeSend(() => s.upstream.send(msg));
    else if (s.queue.length < maxQueued) s.queue.push(msg);
    else count('portico_l4_udp_datagrams_dropped_total', s.labels, { reason: 'queue_full' });
  });

  return {
    socket,
    address: () => socket.address(),
    update(ls, bs, o) {
      table = compile(ls, bs);
      if (o) {
        idleTimeoutMs = o.idleTimeoutMs ?? 60_000;
        maxSessions = o.maxSessions ?? 10_000;
        maxQueued = o.maxQueuedDatagrams ?? 64;
      }
    },
    get sessions() {
      return sessions.size;
    },
    async close() {
      for (const [key, s] of sessions) endSession(key, s);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

function compile(listeners: IRListener[], backends: Backends): UdpTable {
  const listener = listeners.find((l) => l.protocol === 'UDP');
  return { listener, route: listener?.l4Routes[0], backends };
}

/** A send on a socket closed under our feet (shutdown, session end) drops the datagram, nothing more. */
function safeSend(send: () => void): void {
  try {
    send();
  } catch {
    // UDP is lossy by contract.
  }
}
