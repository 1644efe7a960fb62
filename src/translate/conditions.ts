// Condition constructors, one per reason, and the final stamping of observedGeneration and
// lastTransitionTime. Constructors leave both empty; stampStatus() fills them once the whole
// status of an object is known, so no other module deals with time or generations.
import type { Condition } from '../api/meta.ts';
import {
  GatewayClassReason as GCR, GatewayReason as GR, ListenerReason as LR, ListenerSetReason as LSR,
  ListenerEntryReason as LER, PolicyReason as PR, RouteReason as RR,
} from '../api/conditions.ts';
import { arr, isObj, obj, str } from './util.ts';

type Status = 'True' | 'False' | 'Unknown';

function c(type: string, status: Status, reason: string, message: string): Condition {
  return { type, status, reason, message, lastTransitionTime: '' };
}

export const GatewayClassConditions = {
  accepted: () => c('Accepted', 'True', GCR.Accepted, 'GatewayClass is accepted by Portico.'),
  invalidParameters: (m: string) => c('Accepted', 'False', GCR.InvalidParameters, m),
  supportedVersion: () => c('SupportedVersion', 'True', GCR.SupportedVersion, 'Gateway API v1.6 is supported.'),
};

export const GatewayConditions = {
  accepted: () => c('Accepted', 'True', GR.Accepted, 'Gateway is accepted.'),
  listenersNotValidAccepted: (m: string) => c('Accepted', 'True', GR.ListenersNotValid, m),
  listenersNotValid: (m: string) => c('Accepted', 'False', GR.ListenersNotValid, m),
  unsupportedAddress: (m: string) => c('Accepted', 'False', GR.UnsupportedAddress, m),
  invalidParameters: (m: string) => c('Accepted', 'False', GR.InvalidParameters, m),
  invalid: (m: string) => c('Accepted', 'False', GR.Invalid, m),
  programmed: () => c('Programmed', 'True', GR.Programmed, 'Gateway is programmed.'),
  notProgrammedInvalid: (m: string) => c('Programmed', 'False', GR.Invalid, m),
  addressNotUsable: (m: string) => c('Programmed', 'False', GR.AddressNotUsable, m),
  resolvedRefs: () => c('ResolvedRefs', 'True', GR.ResolvedRefs, 'All references are resolved.'),
  invalidClientCertificateRef: (m: string) => c('ResolvedRefs', 'False', GR.InvalidClientCertificateRef, m),
  refNotPermitted: (m: string) => c('ResolvedRefs', 'False', GR.RefNotPermitted, m),
  listenersNotResolved: (m: string) => c('ResolvedRefs', 'False', GR.ListenersNotResolved, m),
  insecureFrontendValidation: (m: string) => c('InsecureFrontendValidationMode', 'True', GR.ConfigurationChanged, m),
};

/** Listener conditions; ListenerSet entries use the same strings. */
export const ListenerConditions = {
  accepted: () => c('Accepted', 'True', LR.Accepted, 'Listener is accepted.'),
  unsupportedProtocol: (m: string) => c('Accepted', 'False', LR.UnsupportedProtocol, m),
  unsupportedValue: (m: string) => c('Accepted', 'False', LR.UnsupportedValue, m),
  portUnavailable: (m: string) => c('Accepted', 'False', LR.PortUnavailable, m),
  noValidCACertificate: (m: string) => c('Accepted', 'False', LR.NoValidCACertificate, m),
  /** ListenerSet entries only: past the Gateway's listener limit (listenerset.ts). */
  tooManyListeners: (m: string) => c('Accepted', 'False', LER.TooManyListeners, m),
  /** A conflicted listener is not accepted; the reason names the conflict (as conformance expects). */
  notAcceptedConflict: (reason: string, m: string) => c('Accepted', 'False', reason, m),
  programmed: () => c('Programmed', 'True', LR.Programmed, 'Listener is programmed.'),
  notProgrammed: (reason: string, m: string) => c('Programmed', 'False', reason, m),
  resolvedRefs: () => c('ResolvedRefs', 'True', LR.ResolvedRefs, 'All references are resolved.'),
  invalidCertificateRef: (m: string) => c('ResolvedRefs', 'False', LR.InvalidCertificateRef, m),
  invalidRouteKinds: (m: string) => c('ResolvedRefs', 'False', LR.InvalidRouteKinds, m),
  refNotPermitted: (m: string) => c('ResolvedRefs', 'False', LR.RefNotPermitted, m),
  invalidCACertificateRef: (m: string) => c('ResolvedRefs', 'False', LR.InvalidCACertificateRef, m),
  invalidCACertificateKind: (m: string) => c('ResolvedRefs', 'False', LR.InvalidCACertificateKind, m),
  conflicted: (reason: string, m: string) => c('Conflicted', 'True', reason, m),
  noConflicts: () => c('Conflicted', 'False', LR.NoConflicts, 'No conflicts.'),
  overlappingHostnames: (m: string) => c('OverlappingTLSConfig', 'True', LR.OverlappingHostnames, m),
  overlappingCertificates: (m: string) => c('OverlappingTLSConfig', 'True', LR.OverlappingCertificates, m),
};

export const ListenerSetConditions = {
  accepted: () => c('Accepted', 'True', LSR.Accepted, 'ListenerSet is accepted.'),
  acceptedSomeInvalid: (m: string) => c('Accepted', 'True', LSR.ListenersNotValid, m),
  listenersNotValid: (m: string) => c('Accepted', 'False', LSR.ListenersNotValid, m),
  notAllowed: (m: string) => c('Accepted', 'False', LSR.NotAllowed, m),
  parentNotAccepted: (m: string) => c('Accepted', 'False', LSR.ParentNotAccepted, m),
  invalid: (m: string) => c('Accepted', 'False', LSR.Invalid, m),
  programmed: () => c('Programmed', 'True', LSR.Programmed, 'ListenerSet is programmed.'),
  notProgrammed: (reason: string, m: string) => c('Programmed', 'False', reason, m),
};

export const RouteConditions = {
  accepted: () => c('Accepted', 'True', RR.Accepted, 'Route is accepted.'),
  notAllowedByListeners: (m: string) => c('Accepted', 'False', RR.NotAllowedByListeners, m),
  noMatchingListenerHostname: (m: string) => c('Accepted', 'False', RR.NoMatchingListenerHostname, m),
  noMatchingParent: (m: string) => c('Accepted', 'False', RR.NoMatchingParent, m),
  /** Lost the HTTPRoute/GRPCRoute cross-serving rule on every listener (Portico's reason). */
  hostnameConflict: (m: string) => c('Accepted', 'False', RR.HostnameConflict, m),
  unsupportedValue: (m: string) => c('Accepted', 'False', RR.UnsupportedValue, m),
  incompatibleFilters: (m: string) => c('Accepted', 'False', RR.IncompatibleFilters, m),
  /** Parent not usable (e.g. Gateway not accepted): Accepted stays Pending. */
  pending: (m: string) => c('Accepted', 'False', RR.Pending, m),
  resolvedRefs: () => c('ResolvedRefs', 'True', RR.ResolvedRefs, 'All references are resolved.'),
  refNotPermitted: (m: string) => c('ResolvedRefs', 'False', RR.RefNotPermitted, m),
  invalidKind: (m: string) => c('ResolvedRefs', 'False', RR.InvalidKind, m),
  backendNotFound: (m: string) => c('ResolvedRefs', 'False', RR.BackendNotFound, m),
  unsupportedProtocol: (m: string) => c('ResolvedRefs', 'False', RR.UnsupportedProtocol, m),
  partiallyInvalid: (m: string) => c('PartiallyInvalid', 'True', RR.UnsupportedValue, m),
};

export const PolicyConditions = {
  accepted: () => c('Accepted', 'True', PR.Accepted, 'Policy is accepted.'),
  conflicted: (m: string) => c('Accepted', 'False', PR.Conflicted, m),
  invalid: (m: string) => c('Accepted', 'False', PR.Invalid, m),
  targetNotFound: (m: string) => c('Accepted', 'False', PR.TargetNotFound, m),
  noValidCACertificate: (m: string) => c('Accepted', 'False', PR.NoValidCACertificate, m),
  resolvedRefs: () => c('ResolvedRefs', 'True', PR.ResolvedRefs, 'All references are resolved.'),
  invalidCACertificateRef: (m: string) => c('ResolvedRefs', 'False', PR.InvalidCACertificateRef, m),
  invalidKind: (m: string) => c('ResolvedRefs', 'False', PR.InvalidKind, m),
};

// ---- stamping ----

function prevConditions(v: unknown): Map<string, Condition> | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const m = new Map<string, Condition>();
  for (const x of v) if (isObj(x) && typeof x.type === 'string') m.set(x.type, x as unknown as Condition);
  return m;
}

/** Stable insertion sort by type: condition lists are short, and Array.sort allocates per call. */
function sortByType(conds: Condition[]): void {
  for (let i = 1; i < conds.length; i++) {
    const c = conds[i]!;
    let j = i - 1;
    while (j >= 0 && conds[j]!.type > c.type) {
      conds[j + 1] = conds[j]!;
      j--;
    }
    conds[j + 1] = c;
  }
}

function stampList(conds: Condition[], prev: unknown, gen: number | undefined, now: string): void {
  const before = prevConditions(prev);
  for (const cd of conds) {
    if (gen !== undefined) cd.observedGeneration = gen;
    else delete cd.observedGeneration;
    const p = before?.get(cd.type);
    const t = p && p.status === cd.status ? str(p.lastTransitionTime) : undefined;
    cd.lastTransitionTime = t ?? now;
  }
  sortByType(conds);
}

const NESTED: [string, (e: Record<string, unknown>) => string][] = [
  ['listeners', (e) => String(e.name)],
  ['parents', (e) => JSON.stringify(e.parentRef) + String(e.controllerName)],
  ['ancestors', (e) => JSON.stringify(e.ancestorRef) + String(e.controllerName)],
];

/**
 * Sets observedGeneration and lastTransitionTime on every condition of a status tree
 * (conditions, listeners[].conditions, parents[].conditions, ancestors[].conditions),
 * keeping the previous transition time when the previous status had the same condition
 * status. Conditions are sorted by type.
 */
export function stampStatus(status: Record<string, unknown>, previous: unknown, gen: number | undefined, now: string): void {
  const prev = obj(previous);
  if (Array.isArray(status.conditions)) stampList(status.conditions as Condition[], prev.conditions, gen, now);
  for (let n = 0; n < NESTED.length; n++) {
    const [field, keyOf] = NESTED[n]!;
    if (!Array.isArray(status[field])) continue;
    const prevList = arr(prev[field]);
    // Without a previous status there is nothing to match (the common, hot case).
    let prevByKey: Map<string, unknown> | undefined;
    if (prevList.length > 0) {
      prevByKey = new Map();
      for (const e of prevList) if (isObj(e)) prevByKey.set(keyOf(e), e.conditions);
    }
    for (const e of status[field] as Record<string, unknown>[]) {
      if (!Array.isArray(e.conditions)) continue;
      stampList(e.conditions as Condition[], prevByKey?.get(keyOf(e)), gen, now);
    }
  }
}
