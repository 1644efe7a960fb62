// ListenerSets: attach to a Portico Gateway when its allowedListeners admits their namespace
// (default: None) and the Gateway is accepted. Their entries are validated like Gateway
// listeners, merged after the Gateway's own (oldest set first, then namespace/name), and
// conflicts are decided over the merged list (conflicts.ts).
import type { Condition } from '../api/meta.ts';
import { GATEWAY_GROUP } from '../api/common.ts';
import { ListenerSetReason } from '../api/conditions.ts';
import type { Context } from './context.ts';
import { ListenerConditions as LC, ListenerSetConditions as LSC } from './conditions.ts';
import { gatewayAccepted, listenerAccepted, listenerStatus, listenerLive } from './gateway.ts';
import { matchesSelector } from './labels.ts';
import { buildListener } from './listeners.ts';
import type { GatewayState, ListenerSetState } from './state.ts';
import { cmpAge, createdAt, obj, objArr, str } from './util.ts';

export function buildListenerSets(ctx: Context, gateways: Map<string, GatewayState>): ListenerSetState[] {
  const out: ListenerSetState[] = [];
  for (const lsObj of ctx.list('ListenerSet')) {
    const spec = obj(lsObj.spec);
    const ref = obj(spec.parentRef);
    const ns = lsObj.metadata.namespace ?? 'default';
    if ((str(ref.group) ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (str(ref.kind) ?? 'Gateway') !== 'Gateway') continue;
    const gw = gateways.get(`${str(ref.namespace) ?? ns}/${str(ref.name) ?? ''}`);
    if (!gw) continue; // not a Portico Gateway (or none): not ours to report on
    const set: ListenerSetState = { obj: lsObj, namespace: ns, name: lsObj.metadata.name, gateway: gw, listeners: [] };
    const seen = new Set<string>();
    const duplicates: string[] = [];
    objArr(spec.listeners).forEach((e, i) => {
      const l = buildListener(ctx, gw, lsObj, e, i);
      if (seen.has(l.name)) {
        duplicates.push(l.name);
        return;
      }
      seen.add(l.name);
      set.listeners.push(l);
    });
    // The CRD requires 1..64 entries keyed by name; a set breaking that (e.g. written before
    // validation, or by a client bypassing it) is semantically invalid as a whole.
    const invalid = invalidSpec(set.listeners.length, duplicates);
    if (invalid) {
      set.problem = LSC.invalid(invalid);
    } else if (!allowedBy(ctx, gw, ns)) {
      set.problem = LSC.notAllowed(`Gateway ${gw.namespace}/${gw.name} does not allow ListenerSets from namespace ${ns}.`);
    } else if (!gatewayAccepted(gw)) {
      set.problem = LSC.parentNotAccepted(`Gateway ${gw.namespace}/${gw.name} is not accepted.`);
    }
    out.push(set);
  }
  // Merge precedence: oldest first, then namespace/name.
  out.sort((a, b) => cmpAge(
    { created: createdAt(a.obj.metadata), nsName: `${a.namespace}/${a.name}` },
    { created: createdAt(b.obj.metadata), nsName: `${b.namespace}/${b.name}` }));
  for (const set of out) {
    set.gateway.listenerSets.push(set);
    if (set.problem) continue;
    for (const l of set.listeners) {
      // Gateway listeners first, then sets in merge order: past the limit, entries are refused.
      const total = set.gateway.listeners.length + set.gateway.setListeners.length;
      if (total >= MAX_LISTENERS_PER_GATEWAY) {
        l.notAccepted = LC.tooManyListeners(`Gateway ${set.gateway.namespace}/${set.gateway.name} already has ${MAX_LISTENERS_PER_GATEWAY} listeners (its own and those of older ListenerSets).`);
        continue;
      }
      set.gateway.setListeners.push(l);
    }
  }
  return out;
}

/**
 * Portico serves at most 64 listeners per Gateway, its own and its ListenerSets' together:
 * the limit the CRDs put on one Gateway's (and one ListenerSet's) listener list.
 */
export const MAX_LISTENERS_PER_GATEWAY = 64;

function invalidSpec(count: number, duplicates: string[]): string | undefined {
  if (duplicates.length > 0) return `Listener names must be unique; repeated: ${[...new Set(duplicates)].join(', ')}.`;
  if (count === 0) return 'spec.listeners must hold at least one listener.';
  return undefined;
}

function allowedBy(ctx: Context, gw: GatewayState, ns: string): boolean {
  const nsSpec = obj(obj(obj(gw.obj.spec).allowedListeners).namespaces);
  switch (str(nsSpec.from) ?? 'None') {
    case 'All': return true;
    case 'Same': return ns === gw.namespace;
    case 'Selector': return matchesSelector(nsSpec.selector, ctx.namespaceLabels(ns));
    default: return false;
  }
}

/**
 * Valid listeners that still cannot be programmed: their parent is the reason (not accepted, or
 * not programmed, e.g. AddressNotUsable), and the spec's Programmed reason for that is
 * ParentNotProgrammed (listenerset_types.go).
 */
function parentNotProgrammed(set: ListenerSetState): string {
  const gw = set.gateway;
  const why = gw.programmedProblem ?? gw.acceptedProblem;
  const name = `${gw.namespace}/${gw.name}`;
  return why ? `The parent Gateway ${name} is not programmed (${why.reason}): ${why.message}` : `The parent Gateway ${name} is not programmed.`;
}

export function listenerSetStatus(set: ListenerSetState): Record<string, unknown> {
  const conds: Condition[] = [];
  // A listener that cannot serve (e.g. no permitted certificate) makes the set's listeners
  // "not valid" (conformance ListenerSetReferenceGrant), though routes may still attach to it.
  const valid = set.listeners.filter((l) => listenerAccepted(l) && !l.notProgrammed);
  if (set.problem) {
    conds.push({ ...set.problem });
    conds.push(LSC.notProgrammed(set.problem.reason, set.problem.message));
  } else if (valid.length === 0) {
    conds.push(LSC.listenersNotValid('No listener of this ListenerSet is valid.'));
    conds.push(LSC.notProgrammed('ListenersNotValid', 'No listener of this ListenerSet is valid.'));
  } else {
    const invalid = set.listeners.filter((l) => !valid.includes(l));
    conds.push(invalid.length > 0
      ? LSC.acceptedSomeInvalid(`Invalid listeners: ${invalid.map((l) => l.name).join(', ')}.`)
      : LSC.accepted());
    conds.push(valid.some(listenerLive) ? LSC.programmed() : LSC.notProgrammed(ListenerSetReason.ParentNotProgrammed, parentNotProgrammed(set)));
  }
  const status: Record<string, unknown> = { conditions: conds };
  // Entries of a set that is not attached are not judged: they stay Pending.
  status.listeners = set.listeners.map((l) => {
    const s = listenerStatus(l);
    if (set.problem) {
      s.conditions = [
        { type: 'Accepted', status: 'False', reason: 'Pending', message: set.problem.message, lastTransitionTime: '' },
        { type: 'Programmed', status: 'False', reason: 'Pending', message: set.problem.message, lastTransitionTime: '' },
      ];
    }
    return s;
  });
  return status;
}
