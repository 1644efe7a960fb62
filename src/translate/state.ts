// Internal state shared by the translate modules while one translation runs. Not exported
// from translate/index.ts: only status and IR leave translate().
import type { Condition, KubeObject } from '../api/meta.ts';
import type { IRCertificate, IRListenerTLS, ListenerProtocol } from '../ir/types.ts';
import type { CompiledRoute } from './attach.ts';

export interface GroupKind {
  group: string;
  kind: string;
}

export interface AllowedNamespaces {
  from: 'All' | 'Same' | 'Selector' | 'None';
  selector?: unknown;
}

/** A route attached to a listener, with its effective hostnames on that listener. */
export interface Attachment {
  route: RouteState;
  /** Effective hostnames (intersection); ["*"] when the route and listener accept any host. */
  hostnames: string[];
}

export interface ListenerState {
  /** Unique id used in the IR. */
  id: string;
  gateway: GatewayState;
  owner: KubeObject;
  ownerKind: 'Gateway' | 'ListenerSet';
  name: string;
  port: number;
  protocol: string;
  hostname?: string;
  tlsMode?: 'Terminate' | 'Passthrough';
  supportedKinds: GroupKind[];
  allowedNamespaces: AllowedNamespaces;
  /** Accepted=False condition, if any (set by validation or conflict detection). */
  notAccepted?: Condition;
  /** ResolvedRefs=False condition, if any. */
  refsProblem?: Condition;
  conflicted?: Condition;
  overlapping?: Condition;
  /** Set when the listener is accepted but cannot be programmed (e.g. no valid certificate). */
  notProgrammed?: Condition;
  tls?: IRListenerTLS;
  attachedRoutes: number;
  attachments: Attachment[];
}

export interface GatewayState {
  obj: KubeObject;
  namespace: string;
  name: string;
  /** Gateway-level conditions computed so far (Accepted decided after listeners). */
  acceptedProblem?: Condition;
  programmedProblem?: Condition;
  refsProblem?: Condition;
  insecureFrontend?: Condition;
  addresses: string[];
  listeners: ListenerState[];
  /** ListenerSet listeners, after the Gateway's own (in merge precedence order). */
  setListeners: ListenerState[];
  listenerSets: ListenerSetState[];
  backendClientCertificate?: IRCertificate;
}

export interface ListenerSetState {
  obj: KubeObject;
  namespace: string;
  name: string;
  gateway: GatewayState;
  /** Accepted=False reason when the set as a whole cannot attach. */
  problem?: Condition;
  listeners: ListenerState[];
}

export interface RouteState {
  obj: KubeObject;
  /** "Kind/namespace/name", as in TranslateResult.statuses. */
  key: string;
  kind: string;
  namespace: string;
  name: string;
  /** "namespace/name", the second precedence tie-break. */
  nsName: string;
  created: string;
  /** Index of the route in precedence tie-breaks (age, then namespace/name). */
  order: number;
  /** The route compiled in the current run (unset when compiling it failed). */
  compiled?: CompiledRoute;
}

export const PROTOCOL_KINDS: Record<string, GroupKind[]> = {
  HTTP: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }, { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' }],
  HTTPS: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }, { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' }],
  TLS: [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }],
  TCP: [{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute' }],
  UDP: [{ group: 'gateway.networking.k8s.io', kind: 'UDPRoute' }],
};

export function isListenerProtocol(p: string): p is ListenerProtocol {
  return p === 'HTTP' || p === 'HTTPS' || p === 'TLS' || p === 'TCP' || p === 'UDP';
}
