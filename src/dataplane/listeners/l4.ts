// Glue between the engine and the layer-4 listeners of src/dataplane/l4/ (TLS passthrough and
// termination, TCP, UDP): groups IR listeners by address:port, opens, updates and closes them
// with the same rules as the HTTP ports (only changed ports are touched).
//
// HTTPS and TLS listeners may share a port (told apart by SNI). Then the l4 TLS server binds it,
// gets the port's HTTPS listeners too, and hands their connections to the engine's HTTPS server
// through `delegate`; the engine's PortServer for that port does not listen (sharedWithTls).
import type net from 'node:net';
import type { IR, IRCertificate, IRListener } from '../../ir/types.ts';
import {
  createTcpServer, createTlsServer, createUdpProxy, l4Metrics, L4_PROTOCOLS, type L4Options, type L4StreamServer, type UdpProxy,
} from '../l4/index.ts';

interface Group {
  address: string;
  port: number;
  protocol: string;
  listeners: IRListener[];
  clientCert?: IRCertificate;
}

/** Hands a connection of an HTTPS listener on a shared port to the HTTPS server of `key`. */
export type DelegateFor = (key: string) => L4Options['delegate'];

/** "address:port" → protocol of the stream (TLS / TCP) listeners the l4 module will serve there. */
export function l4StreamPorts(ir: IR, bindAddress: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const gw of ir.gateways) {
    const addresses = gw.addresses.length > 0 ? gw.addresses : [bindAddress];
    for (const l of gw.listeners) {
      if (l.protocol !== 'TLS' && l.protocol !== 'TCP') continue;
      for (const address of addresses) {
        const key = `${address}:${l.port}`;
        if (!out.has(key)) out.set(key, l.protocol);
      }
    }
  }
  return out;
}

export class L4Ports {
  private readonly stream = new Map<string, { protocol: string; srv: L4StreamServer }>();
  private readonly udp = new Map<string, UdpProxy>();

  /**
   * Stops listening on stream ports an HTTP(S) server is about to bind itself (a port whose
   * protocol changed); their open connections get the usual grace period.
   */
  release(keys: Iterable<string>): boolean {
    let any = false;
    for (const key of keys) {
      const cur = this.stream.get(key);
      if (cur === undefined) continue;
      this.stream.delete(key);
      void cur.srv.close(5_000);
      any = true;
    }
    return any;
  }

  async apply(ir: IR, bindAddress: string, bindErrors: Record<string, string>, delegateFor?: DelegateFor): Promise<void> {
    const streamGroups = new Map<string, Group>();
    const udpGroups = new Map<string, Group>();
    const https = new Map<string, IRListener[]>();
    for (const gw of ir.gateways) {
      const addresses = gw.addresses.length > 0 ? gw.addresses : [bindAddress];
      for (const l of gw.listeners) {
        if (l.protocol === 'HTTPS') {
          for (const address of addresses) {
            const key = `${address}:${l.port}`;
            https.set(key, [...(https.get(key) ?? []), l]);
          }
          continue;
        }
        if (!L4_PROTOCOLS.has(l.protocol)) continue;
        const groups = l.protocol === 'UDP' ? udpGroups : streamGroups;
        for (const address of addresses) {
          const key = `${address}:${l.port}`;
          let g = groups.get(key);
          if (g === undefined) {
            g = { address, port: l.port, protocol: l.protocol, listeners: [], clientCert: gw.backendClientCertificate };
            groups.set(key, g);
          }
          if (g.protocol === l.protocol) g.listeners.push(l);
        }
      }
    }
    const work: Promise<void>[] = [];
    for (const [key, g] of streamGroups) {
      const shared = g.protocol === 'TLS' ? https.get(key) : undefined;
      const listeners = shared === undefined ? g.listeners : [...g.listeners, ...shared];
      const opts: L4Options = { backendClientCertificate: g.clientCert, delegate: shared === undefined ? undefined : delegateFor?.(key) };
      const cur = this.stream.get(key);
      if (cur !== undefined && cur.protocol === g.protocol) {
        // Options too: a rotated backend client certificate must reach new connections.
        cur.srv.update(listeners, ir.backends, opts);
        continue;
      }
      if (cur !== undefined) {
        this.stream.delete(key);
        await cur.srv.close(0);
      }
      const srv = g.protocol === 'TLS' ? createTlsServer(listeners, ir.backends, opts) : createTcpServer(listeners, ir.backends, opts);
      work.push(new Promise<void>((resolve) => {
        const onError = (err: Error) => { bindErrors[key] = err.message; resolve(); };
        srv.server.once('error', onError);
        srv.server.listen(g.port, g.address, () => {
          srv.server.off('error', onError);
          srv.server.on('error', () => {});
          this.stream.set(key, { protocol: g.protocol, srv });
          resolve();
        });
      }));
    }
    for (const [key, g] of udpGroups) {
      const cur = this.udp.get(key);
      if (cur !== undefined) {
        cur.update(g.listeners, ir.backends);
        continue;
      }
      work.push(createUdpProxy(g.address, g.port, g.listeners, ir.backends).then(
        (p) => { this.udp.set(key, p); },
        (err: Error) => { bindErrors[`udp/${key}`] = err.message; },
      ));
    }
    await Promise.all(work);
    for (const [key, cur] of this.stream) {
      if (!streamGroups.has(key)) { this.stream.delete(key); void cur.srv.close(5_000); }
    }
    for (const [key, cur] of this.udp) {
      if (!udpGroups.has(key)) { this.udp.delete(key); void cur.close(); }
    }
  }

  /** Port bound for a stream key (tests use it to find ephemeral ports). */
  boundPort(key: string): number | undefined {
    const a = this.stream.get(key)?.srv.server.address() as net.AddressInfo | null | undefined;
    return a?.port;
  }

  metrics(): string {
    return this.stream.size > 0 || this.udp.size > 0 ? l4Metrics() : '';
  }

  async close(): Promise<void> {
    const all = [...[...this.stream.values()].map((s) => s.srv.close(0)), ...[...this.udp.values()].map((u) => u.close())];
    this.stream.clear();
    this.udp.clear();
    await Promise.all(all);
  }
}
