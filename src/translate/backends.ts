// Backend references: kind check, ReferenceGrant, Service port lookup, EndpointSlice
// resolution (ready endpoints, target port by port name) and appProtocol. Valid refs become
// IR backend clusters, keyed by a stable id, shared by every route that uses them.
import type { KubeObject } from '../api/meta.ts';
import { APP_PROTOCOL_H2C, APP_PROTOCOL_WS } from '../api/core.ts';
import { RouteReason } from '../api/conditions.ts';
import type { BackendProtocol, IRBackend } from '../ir/types.ts';
import type { Context } from './context.ts';
import { refAllowed } from './refgrants.ts';
import { arr, cmpStr, int, isObj, obj, objArr, str, strArr } from './util.ts';
import { GATEWAY_GROUP } from '../api/common.ts';

export type BackendUse = 'http' | 'grpc' | 'tcp' | 'udp' | 'tls';

export type BackendResult =
  | { ok: true; id: string; namespace: string; service: string; portName?: string }
  | { ok: false; reason: string; message: string };

/** One resolveBackendRef() call and its result, as recorded for the incremental translator. */
export interface BackendCall {
  fromKind: string;
  fromNs: string;
  ref: unknown;
  use: BackendUse;
  result: BackendResult;
  /** What the result depends on: the Service "ns/name" it names, and the namespace whose ReferenceGrants permitted it. */
  deps: BackendDeps;
  /** The backend cluster the call resolved to, as registered (before any policy applied). */
  backend?: IRBackend;
}

export interface BackendDeps {
  service?: string;
  grantsIn?: string;
}

export class BackendRegistry {
  /**
   * When set, every resolveBackendRef() call is appended here. A route's compilation depends on
   * the snapshot only through these calls, so replaying them with the same results proves a
   * cached compilation still holds (incremental.ts).
   */
  record: BackendCall[] | undefined;
  readonly backends = new Map<string, IRBackend>();
  /**
   * Pending "these backends are used by that Gateway" records, turned into usedBy only when a
   * policy asks (most snapshots have no policy; thousands of routes then cost nothing here).
   */
  private readonly pendingUses: (readonly string[] | string)[] = [];
  /** False when the snapshot holds no policy: then nobody asks for usedBy, nothing is recorded. */
  tracksUses = true;
  private usedByMap: Map<string, Set<string>> | undefined;
  /** "ns/service" → backend ids, to apply BackendTLSPolicy. */
  readonly byService = new Map<string, Set<string>>();
  /** Backend id → Service port name (BackendTLSPolicy sectionName). */
  readonly portNames = new Map<string, string | undefined>();

  /** Registers a backend cluster under its id (the first registration of an id wins). */
  add(backend: IRBackend, namespace: string, service: string, portName: string | undefined): void {
    if (this.backends.has(backend.id)) return;
    this.backends.set(backend.id, backend);
    const sk = `${namespace}/${service}`;
    let ids = this.byService.get(sk);
    if (!ids) this.byService.set(sk, (ids = new Set()));
    ids.add(backend.id);
    this.portNames.set(backend.id, portName);
  }

  /** Records that the routes of a Gateway ("ns/name") use these backends. */
  useAll(ids: readonly string[], gatewayKey: string): void {
    if (ids.length === 0 || !this.tracksUses) return;
    this.pendingUses.push(ids, gatewayKey);
    this.usedByMap = undefined;
  }

  /** Backend id → keys ("ns/name") of the Gateways whose routes use it (policy ancestors). */
  get usedBy(): ReadonlyMap<string, ReadonlySet<string>> {
    if (this.usedByMap) return this.usedByMap;
    const m = new Map<string, Set<string>>();
    for (let i = 0; i < this.pendingUses.length; i += 2) {
      const gatewayKey = this.pendingUses[i + 1] as string;
      for (const id of this.pendingUses[i] as readonly string[]) {
        let s = m.get(id);
        if (!s) m.set(id, (s = new Set()));
        s.add(gatewayKey);
      }
    }
    this.usedByMap = m;
    return m;
  }
}

/** appProtocol values an HTTP or gRPC route can use (https/wss need a BackendTLSPolicy for TLS). */
const HTTP_APP_PROTOCOLS: ReadonlySet<string> = new Set([
  'http', 'HTTP', 'https', 'HTTPS', 'h2c', 'grpc', 'kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss',
]);

function protocolFor(appProtocol: string | undefined, use: BackendUse): BackendProtocol {
  if (use === 'tcp' || use === 'tls') return 'tcp';
  if (use === 'udp') return 'udp';
  if (use === 'grpc') return 'h2c';
  if (appProtocol === APP_PROTOCOL_H2C) return 'h2c';
  if (appProtocol === APP_PROTOCOL_WS) return 'ws';
  return 'http1';
}

/**
 * Resolves one backendRef of a route in `fromNs`. `fromKind` is the route kind (ReferenceGrant
 * "from"). On success the backend cluster is registered in `reg`.
 */
export function resolveBackendRef(
  ctx: Context, reg: BackendRegistry, fromKind: string, fromNs: string, ref: unknown, use: BackendUse,
): BackendResult {
  const deps: BackendDeps = {};
  const result = resolve(ctx, reg, fromKind, fromNs, ref, use, deps);
  reg.record?.push({ fromKind, fromNs, ref, use, result, deps, backend: result.ok ? reg.backends.get(result.id) : undefined });
  return result;
}

/** Same outcome for two calls (a replayed call against a recorded one). */
export function sameBackendResult(a: BackendResult, b: BackendResult): boolean {
  if (a.ok && b.ok) return a.id === b.id && a.namespace === b.namespace && a.service === b.service && a.portName === b.portName;
  if (!a.ok && !b.ok) return a.reason === b.reason && a.message === b.message;
  return false;
}

function resolve(
  ctx: Context, reg: BackendRegistry, fromKind: string, fromNs: string, ref: unknown, use: BackendUse, deps: BackendDeps,
): BackendResult {
  const r = obj(ref);
  const group = str(r.group) ?? '';
  const kind = str(r.kind) ?? 'Service';
  const name = str(r.name);
  const ns = str(r.namespace) ?? fromNs;
  if (group !== '' || kind !== 'Service') {
    return { ok: false, reason: RouteReason.InvalidKind, message: `Backend kind ${group ? group + '/' : ''}${kind} is not supported; only core Service is.` };
  }
  if (!name) return { ok: false, reason: RouteReason.BackendNotFound, message: 'backendRef has no name.' };
  deps.service = `${ns}/${name}`;
  if (ns !== fromNs) deps.grantsIn = ns;
  if (!refAllowed(ctx, { group: GATEWAY_GROUP, kind: fromKind, namespace: fromNs }, { group: '', kind: 'Service', namespace: ns, name })) {
    return { ok: false, reason: RouteReason.RefNotPermitted, message: `Reference to Service ${ns}/${name} is not permitted by any ReferenceGrant.` };
  }
  const port = int(r.port);
  if (port === undefined) return { ok: false, reason: RouteReason.BackendNotFound, message: `backendRef to Service ${ns}/${name} has no port.` };
  const svc = ctx.get('Service', ns, name);
  if (!svc) return { ok: false, reason: RouteReason.BackendNotFound, message: `Service ${ns}/${name} not found.` };
  const spec = obj(svc.spec);
  const svcPort = objArr(spec.ports).find((p) => int(p.port) === port);
  const isExternal = str(spec.type) === 'ExternalName';
  if (!svcPort && !isExternal) {
    return { ok: false, reason: RouteReason.BackendNotFound, message: `Service ${ns}/${name} has no port ${port}.` };
  }
  const appProtocol = str(svcPort?.appProtocol);
  if ((use === 'http' || use === 'grpc') && appProtocol !== undefined && !HTTP_APP_PROTOCOLS.has(appProtocol)) {
    return { ok: false, reason: RouteReason.UnsupportedProtocol, message: `Service ${ns}/${name} port ${port} has appProtocol ${appProtocol}, which Portico cannot speak.` };
  }
  const protocol = protocolFor(appProtocol, use);
  const id = use === 'http' ? `${ns}/${name}:${port}` : `${ns}/${name}:${port}/${protocol}`;
  if (!reg.backends.has(id)) {
    const backend: IRBackend = {
      id,
      source: { kind: 'Service', namespace: ns, name },
      protocol,
      endpoints: [],
    };
    if (isExternal) {
      // ExternalName: resolved by DNS at connect time; the Service port is used as is.
      const host = str(spec.externalName) ?? '';
      backend.externalName = host;
      if (host) backend.endpoints = [{ address: host, port }];
    } else {
      backend.endpoints = endpointsFor(ctx, svc, svcPort ?? {});
    }
    reg.add(backend, ns, name, str(svcPort?.name));
  }
  return { ok: true, id, namespace: ns, service: name, portName: str(svcPort?.name) };
}

/**
 * Ready endpoints of a Service port: EndpointSlices labelled with the Service name, the slice
 * port with the same name as the Service port gives the target port (as kube-proxy does).
 * Without any slice port of that name, a numeric targetPort (or the port itself) is used.
 */
function endpointsFor(ctx: Context, svc: KubeObject, svcPort: Record<string, unknown>): { address: string; port: number }[] {
  const portName = str(svcPort.name) ?? '';
  const fallback = int(svcPort.targetPort) ?? int(svcPort.port);
  const seen = new Set<string>();
  const out: { address: string; port: number }[] = [];
  for (const slice of ctx.endpointSlices(svc.metadata.namespace ?? 'default', svc.metadata.name)) {
    // ports present but not a list (null, "8080") is malformed: such a slice contributes nothing.
    if ('ports' in slice && !Array.isArray(slice.ports)) continue;
    const ports = objArr(slice.ports);
    let port: number | undefined;
    if (ports.length > 0) {
      const p = ports.find((x) => (str(x.name) ?? '') === portName);
      port = p ? int(p.port) : undefined;
    } else {
      port = fallback;
    }
    if (port === undefined) continue;
    for (const ep of arr(slice.endpoints)) {
      if (!isObj(ep)) continue;
      if (obj(ep.conditions).ready === false) continue;
      for (const address of strArr(ep.addresses)) {
        const k = `${address}:${port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        out.push({ address, port });
      }
    }
  }
  out.sort((a, b) => cmpStr(a.address, b.address) || a.port - b.port);
  return out;
}
