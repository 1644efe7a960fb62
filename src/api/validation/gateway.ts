// GatewayClass, Gateway and ListenerSet (apis/v1/gatewayclass_types.go, gateway_types.go,
// listenerset_types.go): schema constraints and CEL rules of the experimental CRDs.

import { isIPv4, isIPv6 } from 'node:net';
import type { Rule } from './schema.ts';
import { list, map, obj, rule, str, withDefault } from './schema.ts';
import {
  ControllerName,
  existsOne,
  Group,
  has,
  Hostname,
  Kind,
  LabelSelector,
  LocalObjectRef,
  Namespace,
  ObjectName,
  P,
  ParametersRef,
  PortNumber,
  SecretRef,
  SectionName,
  size,
  empty,
} from './common.ts';

// ---- GatewayClass ----

export const GatewayClassSpec = obj(
  {
    // The CRD also says controllerName is immutable (self == oldSelf): an update rule that
    // a create or a file can never break.
    controllerName: ControllerName,
    parametersRef: ParametersRef,
    description: str({ max: 64 }),
  },
  { required: ['controllerName'] },
);

// ---- listeners (Gateway and ListenerSet) ----

const RouteGroupKind = obj({ group: withDefault(Group, 'gateway.networking.k8s.io'), kind: Kind }, { required: ['kind'] });

const AllowedRoutes = obj({
  namespaces: withDefault(
    obj({ from: withDefault(str({ enum: ['All', 'Selector', 'Same'] }), 'Same'), selector: LabelSelector }),
    { from: 'Same' },
  ),
  kinds: list(RouteGroupKind, { max: 8 }),
});

const ListenerTLS = obj(
  {
    mode: withDefault(str({ enum: ['Terminate', 'Passthrough'] }), 'Terminate'),
    certificateRefs: list(SecretRef, { max: 64 }),
    options: map(str({ min: 0, max: 4096 }), { maxProps: 16 }),
  },
  {
    rules: [
      rule('certificateRefs or options must be specified when mode is Terminate', (t: any) => t.mode !== 'Terminate' || size(t.certificateRefs) > 0 || size(t.options) > 0),
    ],
  },
);

const Protocol = str({
  min: 1,
  max: 255,
  pattern: {
    re: /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/,
    says: 'must be a protocol name such as "HTTP", "HTTPS", "TLS", "TCP", "UDP" or a domain-prefixed name',
  },
});

function listener() {
  return obj(
    {
      name: SectionName,
      hostname: Hostname,
      port: PortNumber,
      protocol: Protocol,
      tls: ListenerTLS,
      allowedRoutes: withDefault(AllowedRoutes, { namespaces: { from: 'Same' } }),
    },
    { required: ['name', 'port', 'protocol'] },
  );
}

const sameHostname = (l1: any, l2: any): boolean => (has(l1, 'hostname') && has(l2, 'hostname') ? l1.hostname === l2.hostname : !has(l1, 'hostname') && !has(l2, 'hostname'));

/** The listener rules Gateway and ListenerSet share. */
const listenerRules: Rule[] = [
  rule("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']", (ls: any[]) => ls.every((l) => !['HTTP', 'TCP', 'UDP'].includes(l.protocol) || !has(l, 'tls'))),
  rule('tls mode must be Terminate for protocol HTTPS', (ls: any[]) =>
    ls.every((l) => !(l.protocol === 'HTTPS' && has(l, 'tls')) || l.tls.mode === '' || l.tls.mode === 'Terminate'),
  ),
  rule('tls mode must be set for protocol TLS', (ls: any[]) => ls.every((l) => l.protocol !== 'TLS' || (has(l, 'tls') && has(l.tls, 'mode') && l.tls.mode !== ''))),
  rule("hostname must not be specified for protocols ['TCP', 'UDP']", (ls: any[]) => ls.every((l) => !['TCP', 'UDP'].includes(l.protocol) || empty(l.hostname))),
  rule('Listener name must be unique within the Gateway', (ls: any[]) => ls.every((l1) => existsOne(ls, (l2) => l1.name === l2.name))),
];

const listeners = (uniquePorts: Rule) => list(listener(), { min: 1, max: 64, mapKeys: ['name'], rules: [...listenerRules, uniquePorts] });

// ---- Gateway ----

const ADDRESS_TYPE = {
  re: /^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/,
  says: 'must be "IPAddress", "Hostname", "NamedAddress" or a domain-prefixed type',
};
const HOSTNAME_ADDRESS = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const GatewayAddress = obj(
  {
    type: withDefault(str({ min: 1, max: 253, pattern: ADDRESS_TYPE }), 'IPAddress'),
    value: str({ max: 253 }),
  },
  {
    rules: [
      // The CRD's oneOf: an IPAddress value must be an IPv4 or IPv6 address.
      rule('value must be an IPv4 or IPv6 address when type is IPAddress', (a: any) => a.type !== 'IPAddress' || !has(a, 'value') || isIPv4(a.value) || (isIPv6(a.value) && !a.value.includes('%'))),
      rule(
        'Hostname value must be empty or contain only valid characters (matching ^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$)',
        (a: any) => a.type !== 'Hostname' || !has(a, 'value') || HOSTNAME_ADDRESS.test(a.value),
      ),
    ],
  },
);

const uniqueAddress = (type: string) => (as: any[]) =>
  as.every((a1) => !(a1.type === type && has(a1, 'value')) || existsOne(as, (a2) => a2.type === a1.type && has(a2, 'value') && a2.value === a1.value));

const QUALIFIED_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const keyRules = (what: 'label' | 'annotation'): Rule[] => [
  rule(`${what === 'label' ? 'Label' : 'Annotation'} keys must be in the form of an optional DNS subdomain prefix followed by a required name segment of up to 63 characters.`, (m: any) =>
    Object.keys(m).every((k) => QUALIFIED_KEY.test(k)),
  ),
  rule(`If specified, the ${what} key's prefix must be a DNS subdomain not longer than 253 characters in total.`, (m: any) =>
    Object.keys(m).every((k) => [...k.split('/')[0]].length < 253),
  ),
];

const Infrastructure = obj({
  labels: map(str({ min: 0, max: 63, pattern: P.labelValue }), { maxProps: 8, rules: keyRules('label') }),
  annotations: map(str({ min: 0, max: 4096 }), { maxProps: 16, rules: keyRules('annotation') }),
  parametersRef: LocalObjectRef,
});

const CACertRef = obj({ group: Group, kind: Kind, name: ObjectName, namespace: Namespace }, { required: ['group', 'kind', 'name'] });
const FrontendTLSValidation = obj(
  {
    caCertificateRefs: list(CACertRef, { min: 1, max: 16 }),
    mode: withDefault(str({ enum: ['AllowValidOnly', 'AllowInsecureFallback'] }), 'AllowValidOnly'),
  },
  { required: ['caCertificateRefs'] },
);
const TLSConfig = obj({ validation: FrontendTLSValidation });

const GatewayTLS = obj({
  backend: obj({ clientCertificateRef: SecretRef }),
  frontend: obj(
    {
      default: TLSConfig,
      perPort: list(obj({ port: PortNumber, tls: TLSConfig }, { required: ['port', 'tls'] }), {
        max: 64,
        mapKeys: ['port'],
        rules: [rule('Port for TLS configuration must be unique within the Gateway', (ts: any[]) => ts.every((t1) => existsOne(ts, (t2) => t1.port === t2.port)))],
      }),
    },
    { required: ['default'] },
  ),
});

export const GatewaySpec = obj(
  {
    gatewayClassName: ObjectName,
    listeners: listeners(
      rule('Combination of port, protocol and hostname must be unique for each listener', (ls: any[]) =>
        ls.every((l1) => existsOne(ls, (l2) => l1.port === l2.port && l1.protocol === l2.protocol && sameHostname(l1, l2))),
      ),
    ),
    addresses: list(GatewayAddress, {
      max: 16,
      rules: [rule('IPAddress values must be unique', uniqueAddress('IPAddress')), rule('Hostname values must be unique', uniqueAddress('Hostname'))],
    }),
    infrastructure: Infrastructure,
    allowedListeners: obj({
      namespaces: withDefault(obj({ from: withDefault(str({ enum: ['All', 'Selector', 'Same', 'None'] }), 'None'), selector: LabelSelector }), { from: 'None' }),
    }),
    tls: GatewayTLS,
    defaultScope: str({ enum: ['All', 'None'] }),
  },
  { required: ['gatewayClassName', 'listeners'] },
);

// ---- ListenerSet ----

export const ListenerSetSpec = obj(
  {
    parentRef: obj(
      { group: withDefault(Group, 'gateway.networking.k8s.io'), kind: withDefault(Kind, 'Gateway'), name: ObjectName, namespace: Namespace },
      { required: ['name'] },
    ),
    listeners: listeners(
      rule('Combination of port, protocol and hostname must be unique for each listener', (ls: any[]) =>
        ls.every((l1) => !has(l1, 'port') || existsOne(ls, (l2) => has(l2, 'port') && l1.port === l2.port && l1.protocol === l2.protocol && sameHostname(l1, l2))),
      ),
    ),
  },
  { required: ['listeners', 'parentRef'] },
);
