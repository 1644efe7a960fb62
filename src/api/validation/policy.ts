// BackendTLSPolicy and ReferenceGrant (apis/v1), and the experimental x-k8s.io kinds XBackend,
// XBackendTrafficPolicy and XMesh (apisx/v1alpha1): schema constraints and CEL rules.

import { int, list, map, obj, rule, str, withDefault } from './schema.ts';
import {
  ControllerName,
  Duration,
  durationMs,
  empty,
  existsOne,
  Group,
  has,
  Hostname,
  Kind,
  LocalObjectRef,
  Namespace,
  ObjectName,
  P,
  ParametersRef,
  PortNumber,
  PreciseHostname,
  SecretRef,
  SectionName,
  SessionPersistence,
  size,
} from './common.ts';

// ---- BackendTLSPolicy ----

const SubjectAltName = obj(
  {
    type: str({ enum: ['Hostname', 'URI'] }),
    hostname: Hostname,
    uri: str({ min: 1, max: 253, pattern: P.sanURI }),
  },
  {
    required: ['type'],
    rules: [
      rule('SubjectAltName element must contain Hostname, if Type is set to Hostname', (s: any) => !(s.type === 'Hostname' && empty(s.hostname))),
      rule('SubjectAltName element must not contain Hostname, if Type is not set to Hostname', (s: any) => !(s.type !== 'Hostname' && !empty(s.hostname))),
      rule('SubjectAltName element must contain URI, if Type is set to URI', (s: any) => !(s.type === 'URI' && empty(s.uri))),
      rule('SubjectAltName element must not contain URI, if Type is not set to URI', (s: any) => !(s.type !== 'URI' && !empty(s.uri))),
    ],
  },
);

/** BackendTLSPolicyValidation, also used by XBackend's TLS settings. */
const TLSValidation = obj(
  {
    caCertificateRefs: list(LocalObjectRef, { max: 8 }),
    wellKnownCACertificates: str({ min: 1, max: 253, pattern: P.wellKnownCA }),
    hostname: PreciseHostname,
    subjectAltNames: list(SubjectAltName, { max: 5 }),
  },
  {
    required: ['hostname'],
    rules: [
      rule('must not contain both CACertificateRefs and WellKnownCACertificates', (v: any) => !(size(v.caCertificateRefs) > 0 && !empty(v.wellKnownCACertificates))),
      rule('must specify either CACertificateRefs or WellKnownCACertificates', (v: any) => size(v.caCertificateRefs) > 0 || !empty(v.wellKnownCACertificates)),
    ],
  },
);

const sameTarget = (a: any, b: any): boolean => a.group === b.group && a.kind === b.kind && a.name === b.name;

export const BackendTLSPolicySpec = obj(
  {
    targetRefs: list(obj({ group: Group, kind: Kind, name: ObjectName, sectionName: SectionName }, { required: ['group', 'kind', 'name'] }), {
      min: 1,
      max: 16,
      rules: [
        rule('sectionName must be specified when targetRefs includes 2 or more references to the same target', (ts: any[]) =>
          ts.every((t1) => ts.every((t2) => !sameTarget(t1, t2) || empty(t1.sectionName) === empty(t2.sectionName))),
        ),
        rule('sectionName must be unique when targetRefs includes 2 or more references to the same target', (ts: any[]) =>
          ts.every((t1) =>
            existsOne(
              ts,
              (t2) =>
                sameTarget(t1, t2) &&
                ((empty(t1.sectionName) && empty(t2.sectionName)) || (has(t1, 'sectionName') && has(t2, 'sectionName') && t1.sectionName === t2.sectionName)),
            ),
          ),
        ),
      ],
    }),
    validation: TLSValidation,
    options: map(str({ min: 0, max: 4096 }), { maxProps: 16 }),
  },
  { required: ['targetRefs', 'validation'] },
);

// ---- ReferenceGrant ----

export const ReferenceGrantSpec = obj(
  {
    from: list(obj({ group: Group, kind: Kind, namespace: Namespace }, { required: ['group', 'kind', 'namespace'] }), { min: 1, max: 16 }),
    to: list(obj({ group: Group, kind: Kind, name: ObjectName }, { required: ['group', 'kind'] }), { min: 1, max: 16 }),
  },
  { required: ['from', 'to'] },
);

// ---- XBackend ----

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const XBackendSpec = obj(
  {
    type: str({ enum: ['ExternalHostname'] }),
    externalHostname: obj(
      {
        hostname: {
          ...PreciseHostname,
          rules: [rule('hostname must not be an IP address or end with .cluster.local', (h: string) => !h.endsWith('.cluster.local'))],
        },
      },
      { required: ['hostname'] },
    ),
    port: obj(
      {
        port: PortNumber,
        // format.dns1123Label(): at most 63 characters, lowercase alphanumerics and "-".
        name: str({ max: 63, rules: [rule('Name must be a valid DNS label', (n: string) => n.length === 0 || (n.length <= 63 && DNS1123_LABEL.test(n)))] }),
      },
      { required: ['port'] },
    ),
    protocol: str({ enum: ['TCP', 'HTTP', 'HTTP2', 'HTTP11', 'H2C', 'MCP'] }),
    tls: obj(
      {
        mode: str({ enum: ['None', 'ServerOnly', 'ClientAndServer'] }),
        clientCertificateRef: SecretRef,
        validation: TLSValidation,
      },
      {
        required: ['mode'],
        rules: [
          rule('clientCertificateRef must be set if and only if mode is ClientAndServer', (t: any) =>
            t.mode === 'ClientAndServer' ? has(t, 'clientCertificateRef') : !has(t, 'clientCertificateRef'),
          ),
        ],
      },
    ),
  },
  {
    required: ['port', 'type'],
    rules: [
      rule('externalHostname must be set when type is ExternalHostname and must be unset otherwise', (s: any) =>
        s.type === 'ExternalHostname' ? has(s, 'externalHostname') : !has(s, 'externalHostname'),
      ),
    ],
  },
);

// ---- XBackendTrafficPolicy ----

const HOUR = 3_600_000;

export const XBackendTrafficPolicySpec = obj(
  {
    targetRefs: list(LocalObjectRef, { min: 1, max: 16, mapKeys: ['group', 'kind', 'name'] }),
    retryConstraint: obj({
      budget: withDefault(
        obj({
          percent: withDefault(int({ min: 0, max: 100 }), 20),
          interval: withDefault(
            {
              ...Duration,
              rules: [
                rule('interval cannot be greater than one hour or less than one second', (d: string) => !(durationMs(d) < 1000 || durationMs(d) > HOUR)),
              ],
            },
            '10s',
          ),
        }),
        { interval: '10s', percent: 20 },
      ),
      minRetryRate: withDefault(
        obj({
          count: int({ min: 1, max: 1_000_000 }),
          interval: { ...Duration, rules: [rule('interval cannot be greater than one hour', (d: string) => !(durationMs(d) === 0 || durationMs(d) > HOUR))] },
        }),
        { count: 10, interval: '1s' },
      ),
    }),
    sessionPersistence: SessionPersistence,
  },
  { required: ['targetRefs'] },
);

// ---- XMesh ----

export const XMeshSpec = obj(
  {
    // controllerName is immutable in the CRD (self == oldSelf): an update-only rule.
    controllerName: ControllerName,
    parametersRef: ParametersRef,
    description: str({ max: 64 }),
  },
  { required: ['controllerName'] },
);
