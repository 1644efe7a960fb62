// Generates Gateway API manifests for benchmarks: one GatewayClass, gateways, and many
// HTTPRoutes spread over namespaces, each routed to a Service backed by an EndpointSlice.
import { stringify } from 'yaml';

export interface ScaleSpec {
  routes: number;
  namespaces: number;
  gateways: number;
  /** First gateway port; gateway i listens on basePort + i. */
  basePort: number;
  backendPort: number;
}

export function gatewayClass(): object {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } };
}

export function gateway(i: number, port: number): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: `gw-${i}`, namespace: 'infra' },
    spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }] },
  };
}

export function backend(namespace: string, backendPort: number): object[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'backend', namespace }, spec: { ports: [{ name: 'http', port: 80, targetPort: backendPort }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'backend-1', namespace, labels: { 'kubernetes.io/service-name': 'backend' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: backendPort }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    },
  ];
}

export function route(i: number, namespace: string, gatewayName: string, hostname: string): object {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: `route-${i}`, namespace },
    spec: {
      parentRefs: [{ name: gatewayName, namespace: 'infra' }],
      hostnames: [hostname],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/r${i}` } }], backendRefs: [{ name: 'backend', port: 80 }] }],
    },
  };
}

export function routeHost(i: number): string {
  return `svc-${i % 1000}.example.com`;
}

/** All objects of a scale scenario, as one multi-document YAML string per namespace plus the base. */
export function scaleManifests(s: ScaleSpec): Map<string, string> {
  const files = new Map<string, string>();
  const base: object[] = [gatewayClass()];
  for (let g = 0; g < s.gateways; g++) base.push(gateway(g, s.basePort + g));
  files.set('base.yaml', toYaml(base));
  const perNs = new Map<string, object[]>();
  for (let n = 0; n < s.namespaces; n++) perNs.set(`ns-${n}`, backend(`ns-${n}`, s.backendPort));
  for (let i = 0; i < s.routes; i++) {
    const ns = `ns-${i % s.namespaces}`;
    perNs.get(ns)!.push(route(i, ns, `gw-${i % s.gateways}`, routeHost(i)));
  }
  for (const [ns, objs] of perNs) files.set(`${ns}.yaml`, toYaml(objs));
  return files;
}

/** The SNI name TLS passthrough routes on (the bench certificate's name). */
export const PASSTHROUGH_HOST = 'bench.local';

/** Frontend protocols of the one-route setups (see bench/proxies/configs.ts). */
export type BenchFrontend = 'http' | 'https' | 'h2c' | 'grpc' | 'tcp' | 'tls-passthrough';

/**
 * One Gateway listening on `port` and one route that sends everything to the backend on
 * `backendPort`: HTTPRoute (http, https, h2c), GRPCRoute to an h2c Service port (grpc),
 * TCPRoute (tcp) or TLSRoute (tls-passthrough, SNI `bench.local`). `https` terminates TLS with the
 * given certificate (a kubernetes.io/tls Secret).
 */
export function singleRoute(o: { port: number; backendPort: number; frontend: BenchFrontend; tls?: { certPem: string; keyPem: string } }): object[] {
  const ns = 'bench';
  const protocol = ({ https: 'HTTPS', tcp: 'TCP', 'tls-passthrough': 'TLS' } as Record<string, string>)[o.frontend] ?? 'HTTP';
  const listener: Record<string, unknown> = { name: 'l', port: o.port, protocol, allowedRoutes: { namespaces: { from: 'All' } } };
  if (o.frontend === 'tls-passthrough') Object.assign(listener, { hostname: PASSTHROUGH_HOST, tls: { mode: 'Passthrough' } });
  const objs: object[] = [gatewayClass()];
  if (o.frontend === 'https') {
    if (!o.tls) throw new Error('https needs a certificate');
    // The Secret sits in the Gateway's namespace: no ReferenceGrant needed.
    listener.tls = { mode: 'Terminate', certificateRefs: [{ kind: 'Secret', name: 'bench-tls' }] };
    objs.push({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'bench-tls', namespace: 'infra' }, stringData: { 'tls.crt': o.tls.certPem, 'tls.key': o.tls.keyPem } });
  }
  objs.push({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw-0', namespace: 'infra' }, spec: { gatewayClassName: 'portico', listeners: [listener] } });
  const [service, slice] = backend(ns, o.backendPort) as any[];
  if (o.frontend === 'grpc') service.spec.ports[0].appProtocol = 'kubernetes.io/h2c';
  objs.push(service, slice);
  const kind = ({ grpc: 'GRPCRoute', tcp: 'TCPRoute', 'tls-passthrough': 'TLSRoute' } as Record<string, string>)[o.frontend] ?? 'HTTPRoute';
  // Route everything: the benchmarks measure the proxy path, not match selectivity.
  objs.push({
    apiVersion: 'gateway.networking.k8s.io/v1', kind, metadata: { name: 'all', namespace: ns },
    spec: {
      parentRefs: [{ name: 'gw-0', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'backend', port: 80 }] }],
      ...(kind === 'TLSRoute' ? { hostnames: [PASSTHROUGH_HOST] } : {}),
    },
  });
  return objs;
}

export function toYaml(objs: object[]): string {
  return objs.map((o) => stringify(o)).join('---\n');
}

export interface ListenerSetScale {
  listenerSets: number;
  routes: number;
  gateways: number;
  namespaces: number;
  /** Gateway g listens on basePort + g; its ListenerSets add hostnames on the same port. */
  basePort: number;
  backendPort: number;
}

export const listenerSetHost = (i: number) => `ls-${i}.example.com`;

/**
 * Gateways that accept ListenerSets from every namespace, ListenerSet i (one HTTP listener for
 * ls-i.example.com on its Gateway's port) in namespace ns-(i mod namespaces), and HTTPRoute j
 * attached to ListenerSet j mod listenerSets in that namespace; one file per namespace.
 */
export function listenerSetManifests(s: ListenerSetScale): Map<string, string> {
  const files = new Map<string, string>();
  const base: object[] = [gatewayClass()];
  for (let g = 0; g < s.gateways; g++) {
    const gw = gateway(g, s.basePort + g) as any;
    gw.spec.allowedListeners = { namespaces: { from: 'All' } };
    base.push(gw);
  }
  files.set('base.yaml', toYaml(base));
  const perNs = new Map<string, object[]>();
  for (let n = 0; n < s.namespaces; n++) perNs.set(`ns-${n}`, backend(`ns-${n}`, s.backendPort));
  const nsOf = (ls: number) => `ns-${ls % s.namespaces}`;
  for (let i = 0; i < s.listenerSets; i++) {
    const g = i % s.gateways;
    perNs.get(nsOf(i))!.push({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ListenerSet', metadata: { name: `ls-${i}`, namespace: nsOf(i) },
      spec: {
        parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: `gw-${g}`, namespace: 'infra' },
        listeners: [{ name: 'http', port: s.basePort + g, protocol: 'HTTP', hostname: listenerSetHost(i), allowedRoutes: { namespaces: { from: 'Same' } } }],
      },
    });
  }
  for (let j = 0; j < s.routes; j++) {
    const ls = j % s.listenerSets;
    const r = route(j, nsOf(ls), `ls-${ls}`, listenerSetHost(ls)) as any;
    r.spec.parentRefs = [{ group: 'gateway.networking.k8s.io', kind: 'ListenerSet', name: `ls-${ls}` }];
    perNs.get(nsOf(ls))!.push(r);
  }
  for (const [ns, objs] of perNs) files.set(`${ns}.yaml`, toYaml(objs));
  return files;
}
