// TCP listeners (TCPRoute): every accepted connection is spliced to one endpoint of one weighted
// backend of the listener's route. No valid backend for the connection: it is reset.
//
// One server per bound port. Several TCP listeners cannot share a port meaningfully (they have no
// hostname to tell them apart); the first one in IR order serves, and of its routes the first (IR
// precedence) serves: TCPRoute has exactly one rule.
import type net from 'node:net';
import type { IRL4Route, IRListener } from '../../ir/types.ts';
import { Balancer } from './balance.ts';
import { ConnectionSet, closeServer, createStreamServer, resolveOptions } from './common.ts';
import type { Backends, L4Options, ResolvedL4Options } from './common.ts';
import { count, trackConnection } from './metrics.ts';
import { KEEPALIVE_MS, connectUpstream, reset, splice } from './proxy.ts';

export interface L4StreamServer {
  /** Unbound server; the caller listens on it (server.listen(port, address)) and reports bind errors. */
  readonly server: net.Server;
  /** Hands over a connection accepted elsewhere; the socket must have been created with allowHalfOpen. */
  handleConnection(socket: net.Socket): void;
  /** Swaps the configuration for new connections; open connections keep their backend. Options, when given, replace the previous ones for new connections. */
  update(listeners: IRListener[], backends: Backends, options?: L4Options): void;
  /** Number of connections currently open. */
  readonly connections: number;
  /** Stops accepting, waits up to graceMs (default 0) for open connections, then destroys them. */
  close(graceMs?: number): Promise<void>;
}

interface TcpTable {
  listener?: IRListener;
  route?: IRL4Route;
  backends: Backends;
}

export function createTcpServer(listeners: IRListener[], backends: Backends, options: L4Options = {}): L4StreamServer {
  let opts = resolveOptions(options);
  const balancer = new Balancer();
  const conns = new ConnectionSet();
  let table = compile(listeners, backends);

  const handleConnection = (socket: net.Socket) => {
    conns.add(socket);
    socket.on('error', () => {});
    socket.setKeepAlive(true, KEEPALIVE_MS);
    // Nothing below should throw; if it ever does, only this connection pays.
    proxyTcp(socket, table, balancer, opts).catch(() => socket.destroy());
  };
  const server = createStreamServer(handleConnection);
  return {
    server,
    handleConnection,
    update(ls, bs, o) {
      table = compile(ls, bs);
      if (o) opts = resolveOptions(o);
    },
    get connections() {
      return conns.size;
    },
    async close(graceMs = 0) {
      const closed = closeServer(server);
      await conns.drain(graceMs);
      await closed;
    },
  };
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
    upstream = await connectUpstream(pick.endpoints, {
      connectTimeoutMs: opts.connectTimeoutMs,
      maxAttempts: opts.maxConnectAttempts,
      onAttemptError: () => count('portico_l4_upstream_connect_errors_total', labels),
    });
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
