// TCP listeners (TCPRoute): every accepted connection is spliced to one endpoint of one weighted
// backend of the listener's route. No valid backend for the connection: it is reset.
//
// One server per bound port. Several TCP listeners cannot share a port meaningfully (they have no
// hostname to tell them apart); the first one in IR order serves, and of its routes the first (IR
// precedence) serves: TCPRoute has exactly one rule.
import type net from 'node:net';
import type { IRL4Route, IRListener } from '../../ir/types.ts';
import type { Balancer } from './balance.ts';
import { createL4StreamServer, dialPicked } from './common.ts';
import type { Backends, L4Options, L4StreamServer, ResolvedL4Options } from './common.ts';
import { count, trackConnection } from './metrics.ts';
import { reset, splice } from './proxy.ts';

interface TcpTable {
  listener?: IRListener;
  route?: IRL4Route;
  backends: Backends;
}

export function createTcpServer(listeners: IRListener[], backends: Backends, options: L4Options = {}): L4StreamServer {
  return createL4StreamServer(compile, (socket, live) => {
    // Nothing below should throw; if it ever does, only this connection pays.
    proxyTcp(socket, live.table, live.balancer, live.opts).catch(() => socket.destroy());
  }, listeners, backends, options);
}

function compile(listeners: IRListener[], backends: Backends): TcpTable {
  const listener = listeners.find((l) => l.protocol === 'TCP');
  return { listener, route: listener?.l4Routes[0], backends };
}

async function proxyTcp(socket: net.Socket, table: TcpTable, balancer: Balancer, opts: ResolvedL4Options): Promise<void> {
  const port = socket.localPort ?? 0;
  const labels = { listener: table.listener?.id ?? '', protocol: 'TCP' as const, port };
  const refuse = (reason: string) => {
    count('portico_l4_connections_rejected_total', labels, { reason });
    opts.onReject?.({ listener: table.listener?.id, reason, remote: socket.remoteAddress });
    reset(socket);
  };
  if (!table.route) return refuse('no_route');
  const pick = balancer.pick(table.route.backends, table.backends);
  if (!pick.ok) return refuse(pick.reason);
  socket.pause();
  let upstream: net.Socket;
  try {
    upstream = await dialPicked(pick, labels, opts);
  } catch {
    return refuse('upstream_connect');
  }
  if (socket.destroyed) {
    upstream.destroy();
    return;
  }
  trackConnection(labels, socket);
  splice(socket, upstream, undefined, { socket, ms: opts.idleTimeoutMs });
}
