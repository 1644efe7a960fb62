// Layer-4 data plane: TLS (passthrough, terminate, mixed), TCP and UDP listeners.
//
// How the data plane manager uses it — one object per bound address:port, built from the IR
// listeners on that port that have the port's protocol:
//
//   TLS / TCP (stream ports):
//     const l4 = proto === 'TLS' ? createTlsServer(listeners, ir.backends, opts)
//                                : createTcpServer(listeners, ir.backends, opts);
//     l4.server.listen(port, address);          // the manager binds; 'error' → bindErrors
//     ...on a new IR generation with the same port:  l4.update(listeners, ir.backends, opts?);
//     ...when the port disappears:                   await l4.close(graceMs);
//   opts (L4Options): backendClientCertificate (IRGateway.backendClientCertificate, presented
//   when a terminated TLSRoute re-encrypts to a BackendTLSPolicy backend), connect / handshake /
//   idle timeouts, maxClientHelloBytes, delegate, onReject. Passing opts to update() replaces them
//   for new connections.
//   `server` is an unbound net.Server created with allowHalfOpen. A manager that accepts sockets
//   itself can call l4.handleConnection(socket) instead; its server MUST use allowHalfOpen: true,
//   or half-closed TCP streams are cut.
//
//   HTTPS + TLS on one port (translate allows HTTPS and TLS Terminate listeners to share a port,
//   told apart by SNI): give createTlsServer ALL the port's HTTPS and TLS listeners and
//   `{ delegate: (listener, socket) => httpsServer.emit('connection', socket) }`; the TLS server
//   binds the port, reads the SNI, serves TLS listeners itself and hands HTTPS connections (and
//   connections without SNI, when the port has an HTTPS listener) to the delegate with the bytes
//   it read pushed back into the socket. The HTTPS server then must not listen on the port itself.
//   (The engine does exactly this: listeners/l4.ts and PortServer.sharedWithTls.)
//
//   UDP ports:
//     const udp = await createUdpProxy(address, port, listeners, ir.backends, { idleTimeoutMs });
//     // rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL, ...) → bindErrors
//     udp.update(listeners, ir.backends);  await udp.close();
//
//   update() is an atomic swap of the lookup table: connections and UDP sessions already open keep
//   their backend endpoint; only new ones see the new routes. Never throws on bad input (an
//   unloadable certificate is skipped; a listener without usable routes refuses connections).
//
//   Metrics: l4Metrics() returns Prometheus text for every L4 series of the process; append it
//   to DataPlane.metrics(). Series are labelled {listener, protocol, port}.
//
// Routing rules implemented here (the spec's, see the file comments):
//   - TLS: SNI → most specific listener on the port (exact, then longest wildcard — matching one
//     or more labels —, then no hostname) → most specific TLSRoute hostname on that listener.
//     Missing or unknown SNI: the connection is reset (no TLS alert), never a default backend.
//     The selected listener's mode decides per connection: Passthrough replays the ClientHello to
//     the backend; Terminate uses the listener's certificate for the SNI and sends plaintext
//     (re-encrypted if the backend has IRBackend.tls); IR mode 'Mixed' terminates the SNIs its
//     certificates cover and passes the others through.
//   - A weighted pick among the route's backendRefs per connection/session (weight 0 never; an
//     invalid ref keeps its share and connections landing on it are refused), round-robin over
//     the chosen backend's endpoints, up to maxConnectAttempts endpoints per connection.
//   - Ports with several TCP (or UDP) listeners: the first in IR order serves; its first route
//     (IR precedence) serves.
export { createTcpServer } from './tcp.ts';
export type { L4StreamServer } from './common.ts';
export { createTlsServer, createTlsPassthroughServer } from './tls.ts';
export { createUdpProxy } from './udp.ts';
export type { UdpOptions, UdpProxy } from './udp.ts';
export type { L4Options } from './common.ts';
export { l4Metrics, l4MetricValue } from './metrics.ts';
export { ClientHelloReader, parseClientHelloBody } from './clienthello.ts';
export type { ClientHelloInfo, ClientHelloResult } from './clienthello.ts';
export { hostnameScore, selectListener, selectRoute } from './hosts.ts';

/** IR protocols this module serves. */
export const L4_PROTOCOLS: ReadonlySet<string> = new Set(['TLS', 'TCP', 'UDP']);
