// Listener conflicts over a Gateway's merged listener list (its own listeners, then
// ListenerSets oldest first). Within one group (the Gateway, or one ListenerSet) the spec
// forbids picking a winner, so every listener of a conflicting pair is Conflicted; across
// groups the earlier group wins and only the later listener is Conflicted.
//
// On one port, listeners must be of one "family": HTTP; TLS (HTTPS, TLS Terminate and TLS
// Passthrough, told apart by SNI); TCP; UDP runs on its own transport and only meets other UDP
// listeners. Passthrough shares a port with terminating listeners only because Portico claims
// TLSRouteModeMixed (GEP-2643: without it the spec requires ProtocolConflict; the data plane
// decides per connection by the listener the SNI selects). Inside a family, hostnames must
// differ (TCP and UDP listeners have none, so any two conflict): a Passthrough and a Terminate
// listener with the same hostname, or both without one, are a HostnameConflict.
import { FEATURES, PORTICO_SUPPORTED_FEATURES } from '../api/features.ts';
import { ListenerEntryReason, ListenerReason } from '../api/conditions.ts';
import { ListenerConditions as LC } from './conditions.ts';
import { certificateDNSNames } from './certificates.ts';
import { intersect } from './hostnames.ts';
import type { ListenerState } from './state.ts';

/** Whether TLS Passthrough and terminating listeners may share a port (the claim decides). */
export const MIXED_TLS_MODES = PORTICO_SUPPORTED_FEATURES.includes(FEATURES.TLSRouteModeMixed);

function family(l: ListenerState, mixed: boolean): string {
  switch (l.protocol) {
    case 'HTTP': return 'http';
    case 'HTTPS': return 'tls';
    case 'TLS': return l.tlsMode === 'Passthrough' && !mixed ? 'tls-passthrough' : 'tls';
    case 'TCP': return 'tcp';
    default: return 'udp';
  }
}

function transport(l: ListenerState): string {
  return l.protocol === 'UDP' ? 'udp' : 'tcp';
}

/**
 * The conflict reason between two listeners, or undefined when they are distinct. `mixed`:
 * whether TLSRouteModeMixed is supported (a parameter so the unclaimed rule stays testable).
 */
export function conflictBetween(a: ListenerState, b: ListenerState, mixed = MIXED_TLS_MODES): string | undefined {
  if (a.port !== b.port || transport(a) !== transport(b)) return undefined;
  if (family(a, mixed) !== family(b, mixed)) return ListenerReason.ProtocolConflict;
  if (a.protocol === 'TCP' || a.protocol === 'UDP') return ListenerReason.HostnameConflict;
  return (a.hostname ?? '') === (b.hostname ?? '') ? ListenerReason.HostnameConflict : undefined;
}

function markConflict(l: ListenerState, reason: string, other: ListenerState): void {
  if (l.conflicted) {
    // A ListenerSet entry conflicting in several ways reports ListenerConflict, the reason its
    // godoc prefers over HostnameConflict / ProtocolConflict (Gateway listeners have no such reason).
    if (l.ownerKind === 'ListenerSet' && l.conflicted.reason !== reason) {
      l.conflicted = LC.conflicted(ListenerEntryReason.ListenerConflict,
        `Conflicts with several listeners on port ${l.port}, by hostname and by protocol (last: ${other.name}).`);
    }
    return;
  }
  const msg = reason === ListenerReason.ProtocolConflict
    ? `Port ${l.port} is also used by listener ${other.name} (${other.protocol}) with an incompatible protocol.`
    : `Listener ${other.name} uses the same port ${l.port} and hostname ${l.hostname ?? '(none)'}.`;
  l.conflicted = LC.conflicted(reason, msg);
}

/** Decides conflicts in place. `groups` are in precedence order; `mixed` as for conflictBetween. */
export function resolveConflicts(groups: ListenerState[][], mixed = MIXED_TLS_MODES): void {
  const winnersByPort = new Map<number, ListenerState[]>();
  for (const group of groups) {
    const candidates = group.filter((l) => !l.notAccepted);
    // Across groups: earlier winners take precedence.
    for (const l of candidates) {
      for (const w of winnersByPort.get(l.port) ?? []) {
        const reason = conflictBetween(l, w, mixed);
        if (reason) markConflict(l, reason, w);
      }
    }
    // Within the group: no winner.
    const byPort = new Map<number, ListenerState[]>();
    for (const l of candidates) {
      if (l.conflicted) continue;
      const list = byPort.get(l.port);
      if (list) list.push(l);
      else byPort.set(l.port, [l]);
    }
    for (const list of byPort.values()) {
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const reason = conflictBetween(list[i]!, list[j]!, mixed);
          if (reason) {
            markConflict(list[i]!, reason, list[j]!);
            markConflict(list[j]!, reason, list[i]!);
          }
        }
      }
    }
    for (const l of candidates) {
      if (l.conflicted) continue;
      const list = winnersByPort.get(l.port);
      if (list) list.push(l);
      else winnersByPort.set(l.port, [l]);
    }
  }
  for (const list of winnersByPort.values()) markOverlappingTLS(list);
}

/**
 * OverlappingTLSConfig: TLS listeners on one port whose hostnames overlap, or that offer two
 * different certificates valid for a common name (which one a client gets then depends on the
 * listener its connection was opened for). When both hold, OverlappingCertificates wins, as the
 * godoc asks. One certificate shared by both listeners is not an overlap of certificates. A pair
 * needs at least one listener terminating at Portico: a connection Portico terminated for one
 * hostname can be reused by the client (HTTP connection coalescing) for the other listener's
 * hostname, Passthrough included; two Passthrough listeners hold no TLS config of Portico's.
 */
function markOverlappingTLS(list: ListenerState[]): void {
  const tls = list.filter((l) => l.tlsMode !== undefined);
  for (let i = 0; i < tls.length; i++) {
    for (let j = i + 1; j < tls.length; j++) {
      const a = tls[i]!;
      const b = tls[j]!;
      if (a.tlsMode === 'Passthrough' && b.tlsMode === 'Passthrough') continue;
      if (certificatesOverlap(a, b)) {
        a.overlapping = LC.overlappingCertificates(`A certificate of listener ${b.name} on port ${a.port} is valid for a name this listener's certificate also claims.`);
        b.overlapping = LC.overlappingCertificates(`A certificate of listener ${a.name} on port ${b.port} is valid for a name this listener's certificate also claims.`);
        continue;
      }
      if (intersect(a.hostname, b.hostname) === undefined) continue;
      if (a.overlapping?.reason !== ListenerReason.OverlappingCertificates) {
        a.overlapping ??= LC.overlappingHostnames(`Hostname overlaps with listener ${b.name} on port ${a.port}.`);
      }
      if (b.overlapping?.reason !== ListenerReason.OverlappingCertificates) {
        b.overlapping ??= LC.overlappingHostnames(`Hostname overlaps with listener ${a.name} on port ${b.port}.`);
      }
    }
  }
}

/** Two different certificates, one of each listener, with intersecting DNS SANs. */
function certificatesOverlap(a: ListenerState, b: ListenerState): boolean {
  for (const ca of a.tls?.certificates ?? []) {
    for (const cb of b.tls?.certificates ?? []) {
      if (ca.certPem === cb.certPem) continue;
      const namesB = certificateDNSNames(cb.certPem);
      if (certificateDNSNames(ca.certPem).some((x) => namesB.some((y) => intersect(x, y) !== undefined))) return true;
    }
  }
  return false;
}
