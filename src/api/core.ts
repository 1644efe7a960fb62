// The core Kubernetes kinds Portico reads, limited to the fields it uses.
import type { KubeObject } from './meta.ts';

export interface Namespace extends KubeObject {
  kind: 'Namespace';
}

export interface ServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  /** Number or the name of a container port. */
  targetPort?: number | string;
  /** e.g. kubernetes.io/h2c, kubernetes.io/ws, kubernetes.io/wss, http, https. */
  appProtocol?: string;
}

export interface ServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  clusterIP?: string;
  externalName?: string;
  ports?: ServicePort[];
  selector?: Record<string, string>;
}

export interface Service extends KubeObject {
  kind: 'Service';
  spec: ServiceSpec;
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
}

export interface EndpointSlice extends KubeObject {
  kind: 'EndpointSlice';
  addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: Endpoint[];
  ports?: EndpointPort[];
}

/** Label that ties an EndpointSlice to its Service. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

export interface Secret extends KubeObject {
  kind: 'Secret';
  type?: string;
  /** Base64-encoded values. */
  data?: Record<string, string>;
  /** Plain values (manifests only; the API server folds them into data). */
  stringData?: Record<string, string>;
}

export const SECRET_TYPE_TLS = 'kubernetes.io/tls';

export interface ConfigMap extends KubeObject {
  kind: 'ConfigMap';
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export const APP_PROTOCOL_H2C = 'kubernetes.io/h2c';
export const APP_PROTOCOL_WS = 'kubernetes.io/ws';
export const APP_PROTOCOL_WSS = 'kubernetes.io/wss';
