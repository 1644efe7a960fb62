// YAML manifests that many tests feed to `portico run -f` or translate(): TLS Secrets, CA
// ConfigMaps and Services backed by a real local process.
import type { CertPair } from './tls-certs.ts';

/** The portico GatewayClass as the `portico run -f` tests write it. No trailing newline. */
export const GATEWAY_CLASS_YAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}`;

/** A PEM indented for a YAML block scalar (`key: |`) nested `indent` deep. */
export function pemBlock(pem: string, indent = '    '): string {
  return pem.trim().split('\n').map((l) => indent + l).join('\n');
}

/** A kubernetes.io/tls Secret holding `pair` (stringData, so no base64). No trailing newline. */
export function tlsSecretYaml(name: string, pair: Pick<CertPair, 'certPem' | 'keyPem'>, namespace = 'default'): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${namespace}}
type: kubernetes.io/tls
stringData:
  tls.crt: |
${pemBlock(pair.certPem)}
  tls.key: |
${pemBlock(pair.keyPem)}`;
}

/** A ConfigMap with a CA bundle under ca.crt (what BackendTLSPolicy and frontend validation reference). No trailing newline. */
export function caConfigMapYaml(name: string, caPem: string, namespace = 'default'): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: {name: ${name}, namespace: ${namespace}}
data:
  ca.crt: |
${pemBlock(caPem)}`;
}

/**
 * A Service (`port` → `target`) and its EndpointSlice with one ready endpoint on 127.0.0.1: a
 * backend served by a process of the test. No trailing newline.
 */
export function localServiceYaml(name: string, port: number, target: number, o: { namespace?: string; appProtocol?: string } = {}): string {
  const ns = o.namespace ?? 'default';
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {ports: [{port: ${port}, targetPort: ${target}${o.appProtocol ? `, appProtocol: ${o.appProtocol}` : ''}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
ports: [{port: ${target}}]`;
}
