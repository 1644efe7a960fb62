// Glue between the engine and the layer-4 listeners of src/dataplane/l4/ (TLS passthrough and
// termination, TCP, UDP): groups IR listeners by address:port, opens, updates and closes them
// with the same rules as the HTTP ports (only changed ports are touched).
import type { IR, IRCertificate, IRListener } from '../../ir/types.ts';
import { createTcpServer, createTlsServer, createUdpProxy, l4Metrics, L4_PROTOCOLS, type L4StreamServer, type UdpProxy } from '../l4/index.ts';

interface Group {
  address: string;
  port: number;
  protocol: string;
  listeners: IRListener[];
  clientCert?: IRCertificate;
}

export class L4Ports {
  private readonly stream = new Map<string, { protocol: string; srv: L4StreamServer }>();
  private readonly udp = new Map<string, UdpProxy>();

  async apply(ir: IR, bindAddress: string, bindErrors: Record<string, string>): Promise<void> {
    const streamGroups = new Map<string, Group>();
    const udpGroups = new Map<string, Group>();
    for (const gw of ir.gateways) {
      const addresses = gw.addresses.length > 0 ? gw.addresses : [bindAddress];
      for (const l of gw.listeners) {
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
      const cur = this.stream.get(key);
      if (cur !== undefined && cur.protocol === g.protocol) {
        cur.srv.update(g.listeners, ir.backends);
        continue;
      }
      if (cur !== undefined) {
        this.stream.delete(key);
        await cur.srv.close(0);
      }
      const opts = { backendClientCertificate: g.clientCert };
      const srv = g.protocol === 'TLS' ? createTlsServer(g.listeners, ir.backends, opts) : createTcpServer(g.listeners, ir.backends, opts);
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
