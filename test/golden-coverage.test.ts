// Every condition reason of the spec (gateway-api-spec.md §2.2–2.6) must appear in some golden
// out.yaml and be asserted by some expect.yaml, on the right kind of status and condition type,
// so that each one is exercised and reviewed. Reasons decided after translate() by the status
// layer (src/status/programmed.ts) are shown by cases whose options.yaml describes the data
// plane's result (test/golden/README.md). Reasons Portico cannot produce yet are listed
// in NOT_YET: the list may only shrink; the test says so when one of them shows up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  GatewayClassReason, GatewayReason, ListenerEntryReason, ListenerReason, ListenerSetReason, PolicyReason, RouteReason,
} from '../src/api/conditions.ts';
import { GOLDEN_DIR, listCases, loadExpectations } from './support/golden.ts';

/** Where a condition sits: the object's own conditions, or a listener / parent / ancestor entry. */
type Scope = 'GatewayClass' | 'Gateway' | 'Listener' | 'ListenerSet' | 'ListenerEntry' | 'Route' | 'BackendTLSPolicy';

/** scope → condition type → reasons (True, False and Unknown alike). */
const SPEC_REASONS: Record<Scope, Record<string, string[]>> = {
  GatewayClass: {
    Accepted: ['Accepted', 'InvalidParameters', 'Unsupported', 'UnsupportedVersion', 'Pending'],
    SupportedVersion: ['SupportedVersion', 'UnsupportedVersion'],
  },
  Gateway: {
    Accepted: ['Accepted', 'ListenersNotValid', 'Invalid', 'InvalidParameters', 'UnsupportedAddress', 'Pending'],
    Programmed: ['Programmed', 'Invalid', 'Pending', 'NoResources', 'AddressNotAssigned', 'AddressNotUsable'],
    ResolvedRefs: ['ResolvedRefs', 'RefNotPermitted', 'InvalidClientCertificateRef', 'ListenersNotResolved'],
    InsecureFrontendValidationMode: ['ConfigurationChanged'],
  },
  Listener: {
    Accepted: ['Accepted', 'PortUnavailable', 'UnsupportedProtocol', 'NoValidCACertificate', 'UnsupportedValue', 'Pending'],
    // InvalidTLSConfig: the implementer's guide, for insufficient TLS configuration.
    Programmed: ['Programmed', 'Invalid', 'Pending', 'InvalidTLSConfig'],
    ResolvedRefs: ['ResolvedRefs', 'InvalidCertificateRef', 'InvalidRouteKinds', 'RefNotPermitted', 'InvalidCACertificateRef', 'InvalidCACertificateKind'],
    Conflicted: ['HostnameConflict', 'ProtocolConflict', 'NoConflicts'],
    OverlappingTLSConfig: ['OverlappingHostnames', 'OverlappingCertificates'],
  },
  ListenerSet: {
    Accepted: ['Accepted', 'Invalid', 'NotAllowed', 'ParentNotAccepted', 'ListenersNotValid', 'Pending'],
    Programmed: ['Programmed', 'Invalid', 'ParentNotProgrammed', 'ListenersNotValid', 'PortUnavailable'],
  },
  ListenerEntry: {
    // Pending: entries of a ListenerSet that is not attached are not judged.
    Accepted: ['Accepted', 'PortUnavailable', 'UnsupportedProtocol', 'TooManyListeners', 'Pending'],
    Programmed: ['Programmed', 'Invalid', 'PortUnavailable', 'Pending'],
    ResolvedRefs: ['ResolvedRefs', 'InvalidCertificateRef', 'InvalidRouteKinds', 'RefNotPermitted'],
    Conflicted: ['HostnameConflict', 'ProtocolConflict', 'ListenerConflict', 'NoConflicts'],
  },
  Route: {
    // HostnameConflict: Portico's own reason for the loser of the GRPCRoute spec's HTTPRoute /
    // GRPCRoute cross-serving rule (the spec mandates Accepted=False but names no reason).
    Accepted: ['Accepted', 'NotAllowedByListeners', 'NoMatchingListenerHostname', 'NoMatchingParent', 'UnsupportedValue', 'IncompatibleFilters', 'Pending', 'HostnameConflict'],
    ResolvedRefs: ['ResolvedRefs', 'RefNotPermitted', 'InvalidKind', 'BackendNotFound', 'UnsupportedProtocol'],
    PartiallyInvalid: ['UnsupportedValue'],
  },
  BackendTLSPolicy: {
    Accepted: ['Accepted', 'Conflicted', 'Invalid', 'TargetNotFound', 'NoValidCACertificate'],
    ResolvedRefs: ['ResolvedRefs', 'InvalidCACertificateRef', 'InvalidKind'],
  },
};

/**
 * Reasons no golden case can show, and why. `Pending` is the API server's default before any
 * controller writes; Portico writes a real verdict in the same pass, so it never reports it.
 * GatewayClass `Unsupported` is for "an implementation that does not support a user-defined
 * GatewayClass" (gatewayclass_types.go), i.e. one that only serves classes it provisions
 * itself; Portico serves every GatewayClass that names its controllerName, however many, so
 * nothing it could be given leads there.
 */
const NEVER: ReadonlySet<string> = new Set([
  'GatewayClass/Accepted/Unsupported',
  'GatewayClass/Accepted/Pending',
  'Gateway/Accepted/Pending',
  'Listener/Accepted/Pending',
  'Route/Accepted/Pending',
  'ListenerSet/Accepted/Pending',
]);

/**
 * Reasons Portico does not produce yet (or that need a case not yet written). Empty: every
 * reason of the spec is shown by a golden case or argued impossible in NEVER. Add an entry only
 * with a reason, and remove it as soon as the test reports it covered.
 */
const NOT_YET: ReadonlySet<string> = new Set<string>([]);

function scopeOf(kind: string): { own: Scope; entries?: [string, Scope] } | undefined {
  switch (kind) {
    case 'GatewayClass': return { own: 'GatewayClass' };
    case 'Gateway': return { own: 'Gateway', entries: ['listeners', 'Listener'] };
    case 'ListenerSet': return { own: 'ListenerSet', entries: ['listeners', 'ListenerEntry'] };
    case 'BackendTLSPolicy': return { own: 'BackendTLSPolicy', entries: ['ancestors', 'BackendTLSPolicy'] };
    case 'HTTPRoute': case 'GRPCRoute': case 'TLSRoute': case 'TCPRoute': case 'UDPRoute':
      return { own: 'Route', entries: ['parents', 'Route'] };
    default: return undefined;
  }
}

/** "Scope/Type/Reason" of every condition in every out.yaml. */
function reasonsInGoldens(): Set<string> {
  const seen = new Set<string>();
  const add = (scope: Scope, conditions: unknown) => {
    if (!Array.isArray(conditions)) return;
    for (const c of conditions) seen.add(`${scope}/${c?.type}/${c?.reason}`);
  };
  for (const name of listCases()) {
    const file = join(GOLDEN_DIR, name, 'out.yaml');
    if (!existsSync(file)) continue;
    const out = parse(readFileSync(file, 'utf8')) as { statuses?: { kind: string; status?: Record<string, unknown> }[] };
    for (const { kind, status } of out?.statuses ?? []) {
      const scope = scopeOf(kind);
      if (!scope || !status) continue;
      if (scope.own !== 'Route' && scope.own !== 'BackendTLSPolicy') add(scope.own, status.conditions);
      if (!scope.entries) continue;
      const [field, entryScope] = scope.entries;
      const entries = status[field];
      if (Array.isArray(entries)) for (const e of entries) add(entryScope, e?.conditions);
    }
  }
  return seen;
}

/** "Scope/Type/Reason" of every condition assertion (with a reason) in every expect.yaml. */
function reasonsInExpectations(): Set<string> {
  const seen = new Set<string>();
  for (const name of listCases()) {
    for (const e of loadExpectations(name) ?? []) {
      const type = /conditions\[([A-Za-z]+)\]$/.exec(e.path)?.[1];
      if (!e.reason || !type) continue;
      const kind = e.object.split('/')[0];
      const scope = scopeOf(kind);
      if (!scope) continue;
      const onEntry = /^status\.(listeners|parents|ancestors)\[/.test(e.path);
      seen.add(`${onEntry && scope.entries ? scope.entries[1] : scope.own}/${type}/${e.reason}`);
    }
  }
  return seen;
}

function specReasons(): string[] {
  const all: string[] = [];
  for (const [scope, types] of Object.entries(SPEC_REASONS)) {
    for (const [type, reasons] of Object.entries(types)) for (const r of reasons) all.push(`${scope}/${type}/${r}`);
  }
  return all;
}

test('every spec condition reason appears in some golden out.yaml', (t) => {
  const seen = reasonsInGoldens();
  const missing = specReasons().filter((r) => !seen.has(r) && !NEVER.has(r) && !NOT_YET.has(r));
  const nowCovered = [...NOT_YET].filter((r) => seen.has(r));
  if (nowCovered.length > 0) t.diagnostic(`covered now, remove from NOT_YET: ${nowCovered.join(', ')}`);
  assert.deepEqual(missing, [], 'reasons of the spec that no golden out.yaml shows (add a case, or list them in NOT_YET with a reason)');
});

test('every spec condition reason is asserted by some expect.yaml', () => {
  const seen = reasonsInExpectations();
  const missing = specReasons().filter((r) => !seen.has(r) && !NEVER.has(r) && !NOT_YET.has(r));
  assert.deepEqual(missing, [], 'reasons that show up in out.yaml but no expect.yaml asserts (add an assertion)');
});

test('NOT_YET and NEVER only name reasons of the spec', () => {
  const all = new Set(specReasons());
  assert.deepEqual([...NOT_YET, ...NEVER].filter((r) => !all.has(r)), []);
});

/** The model's reason constants per scope, to keep SPEC_REASONS and src/api/conditions.ts in step. */
const MODEL: Record<Scope, Record<string, string>> = {
  GatewayClass: GatewayClassReason,
  Gateway: GatewayReason,
  Listener: ListenerReason,
  ListenerSet: ListenerSetReason,
  ListenerEntry: ListenerEntryReason,
  Route: RouteReason,
  BackendTLSPolicy: PolicyReason,
};

/** Deprecated or reserved constants the model keeps for reading old status; never written. */
const NOT_WRITTEN = new Set(['Waiting', 'Scheduled', 'NotReconciled', 'Ready', 'ListenersNotReady', 'Attached']);

test('SPEC_REASONS and the model constants (src/api/conditions.ts) name the same reasons', () => {
  const problems: string[] = [];
  for (const [scope, types] of Object.entries(SPEC_REASONS) as [Scope, Record<string, string[]>][]) {
    const model = new Set(Object.values(MODEL[scope]));
    const listed = new Set(Object.values(types).flat());
    for (const r of listed) if (!model.has(r)) problems.push(`${scope}: ${r} is not a constant of the model`);
    for (const r of model) if (!listed.has(r) && !NOT_WRITTEN.has(r)) problems.push(`${scope}: model reason ${r} is missing from SPEC_REASONS`);
  }
  assert.deepEqual(problems, []);
});

