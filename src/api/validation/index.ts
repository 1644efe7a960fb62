// Validation of Gateway API objects equal to the API server's with the upstream v1.6 experimental
// CRDs: the OpenAPI schema constraints and every CEL rule, re-expressed in TypeScript (see
// schema.ts for the semantics). Objects of kinds or versions those CRDs do not define are not ours
// to judge and pass. test/validation-equivalence.test.ts proves the equivalence on a corpus.

import type { KubeObject } from '../meta.ts';
import type { FieldError, ObjNode } from './schema.ts';
import { check } from './schema.ts';
import { checkMetadata } from './metadata.ts';
import { GatewayClassSpec, GatewaySpec, ListenerSetSpec } from './gateway.ts';
import { GRPCRouteSpec, HTTPRouteSpec, l4RouteSpec, tlsRouteSpec } from './routes.ts';
import { BackendTLSPolicySpec, ReferenceGrantSpec, XBackendSpec, XBackendTrafficPolicySpec, XMeshSpec } from './policy.ts';

export type { FieldError, Node } from './schema.ts';

const GROUP = 'gateway.networking.k8s.io';
const XGROUP = 'gateway.networking.x-k8s.io';

interface KindSchema {
  spec: ObjNode;
  namespaced: boolean;
  /** whether the kind has a status (subresource): ignored on create; without one it is an unknown field */
  status: boolean;
}

/** "group/version kind" → schema, for every served version of the experimental CRDs. */
const SCHEMAS = new Map<string, KindSchema>();
function define(group: string, kind: string, versions: string[], spec: (version: string) => ObjNode, namespaced = true, status = true): void {
  for (const v of versions) SCHEMAS.set(`${group}/${v} ${kind}`, { spec: spec(v), namespaced, status });
}
define(GROUP, 'GatewayClass', ['v1', 'v1beta1'], () => GatewayClassSpec, false);
define(GROUP, 'Gateway', ['v1', 'v1beta1'], () => GatewaySpec);
define(GROUP, 'ListenerSet', ['v1'], () => ListenerSetSpec);
define(GROUP, 'HTTPRoute', ['v1', 'v1beta1'], () => HTTPRouteSpec);
define(GROUP, 'GRPCRoute', ['v1'], () => GRPCRouteSpec);
define(GROUP, 'TLSRoute', ['v1', 'v1alpha3', 'v1alpha2'], tlsRouteSpec);
define(GROUP, 'TCPRoute', ['v1', 'v1alpha2'], l4RouteSpec);
define(GROUP, 'UDPRoute', ['v1', 'v1alpha2'], l4RouteSpec);
define(GROUP, 'ReferenceGrant', ['v1', 'v1beta1'], () => ReferenceGrantSpec, true, false);
define(GROUP, 'BackendTLSPolicy', ['v1', 'v1alpha3'], () => BackendTLSPolicySpec);
define(XGROUP, 'XBackend', ['v1alpha1'], () => XBackendSpec);
define(XGROUP, 'XBackendTrafficPolicy', ['v1alpha1'], () => XBackendTrafficPolicySpec);
define(XGROUP, 'XMesh', ['v1alpha1'], () => XMeshSpec, false);

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec']);

/** Whether validateObject() judges objects of this apiVersion and kind. */
export function isValidatedKind(apiVersion: string, kind: string): boolean {
  return SCHEMAS.has(`${apiVersion} ${kind}`);
}

/** The schema of `spec` for an apiVersion and kind (for tests comparing it with the CRDs). */
export function specSchema(apiVersion: string, kind: string): ObjNode | undefined {
  return SCHEMAS.get(`${apiVersion} ${kind}`)?.spec;
}

/** Every apiVersion and kind validateObject() judges. */
export function validatedKinds(): { apiVersion: string; kind: string }[] {
  return [...SCHEMAS.keys()].map((k) => {
    const [apiVersion, kind] = k.split(' ');
    return { apiVersion, kind };
  });
}

/**
 * Validates one object as the API server would on create. Returns the errors (empty = valid),
 * each with the field path (e.g. `spec.rules[0].matches[1].path.value`) and what is wrong.
 * `status` is not checked: the API server ignores it on create (ReferenceGrant has none at all).
 */
export function validateObject(obj: KubeObject): FieldError[] {
  const schema = SCHEMAS.get(`${obj?.apiVersion} ${obj?.kind}`);
  if (!schema) return [];
  const errs: FieldError[] = [];
  for (const key in obj) {
    if (!TOP_LEVEL.has(key) && !(key === 'status' && schema.status)) errs.push({ path: key, message: `unknown field ${JSON.stringify(key)}` });
  }
  checkMetadata(obj.metadata, schema.namespaced, errs);
  if (obj.spec === undefined || obj.spec === null) errs.push({ path: 'spec', message: 'required field is missing' });
  else check(schema.spec, obj.spec, 'spec', errs);
  return errs;
}
