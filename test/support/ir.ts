// Builders for hand-written IR in data plane tests.
import type { IR, IRBackend, IRCertificate, IRFilter, IRHTTPRoute, IRListener, IRMatch, IRWeightedBackend } from '../../src/ir/types.ts';
import type { EchoBackend } from './echo-backend.ts';

export function backend(id: string, echo: EchoBackend | EchoBackend[], protocol: IRBackend['protocol'] = 'http1'): IRBackend {
  const list = Array.isArray(echo) ? echo : [echo];
  return {
    id,
    source: { kind: 'Service', namespace: 'default', name: id },
    protocol,
    endpoints: list.map((e) => ({ address: '127.0.0.1', port: protocol === 'h2c' ? e.h2cPort : e.port })),
  };
}

export function to(backendId: string, weight = 1, filters: IRFilter[] = []): IRWeightedBackend {
  return { backendId, weight, filters };
}

export function match(path: IRMatch['path'] = { type: 'PathPrefix', value: '/' }, extra: Partial<IRMatch> = {}): IRMatch {
  return { path, headers: [], queryParams: [], ...extra };
}

export function route(name: string, m: IRMatch, backends: IRWeightedBackend[], extra: Partial<IRHTTPRoute> = {}, rule = 0): IRHTTPRoute {
  return { source: { kind: 'HTTPRoute', namespace: 'default', name, rule }, kind: 'http', match: m, filters: [], backends, ...extra };
}

export function listener(name: string, port: number, vhosts: Record<string, IRHTTPRoute[]>, extra: Partial<IRListener> = {}): IRListener {
  return {
    source: { kind: 'Gateway', namespace: 'default', name: 'gw', sectionName: name },
    id: `default/gw/${name}`,
    port,
    protocol: 'HTTP',
    virtualHosts: Object.entries(vhosts).map(([hostname, routes]) => ({ hostname, routes })),
    l4Routes: [],
    ...extra,
  };
}

export function ir(generation: number, listeners: IRListener[], backends: IRBackend[], gatewayName = 'gw'): IR {
  return {
    generation,
    gateways: [{ source: { kind: 'Gateway', namespace: 'default', name: gatewayName }, addresses: ['127.0.0.1'], listeners }],
    backends: Object.fromEntries(backends.map((b) => [b.id, b])),
  };
}

/** An IR certificate from a PEM pair, as if loaded from the Secret default/NAME. */
export function certificate(pair: { certPem: string; keyPem: string }, name: string): IRCertificate {
  return { certPem: pair.certPem, keyPem: pair.keyPem, source: { kind: 'Secret', namespace: 'default', name } };
}
