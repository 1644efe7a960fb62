// Route attachment: for every parentRef of a route that names a Portico Gateway or
// ListenerSet, find the relevant listeners (sectionName, port), check allowedRoutes (kinds,
// namespaces) and hostnames, and write one status.parents entry. Each parentRef is judged on
// its own. A route counts in attachedRoutes of every listener that accepted it, when the route
// itself is Accepted.
//
// Cross serving (GRPCRoute spec, a MUST): an HTTPRoute and a GRPCRoute whose hostnames
// intersect on one listener cannot both attach there; the older route (then the first by
// namespace/name) wins. Routes are attached in exactly that order (oldest, then namespace/name,
// then kind: index.ts routeStates, incremental.ts), so when a route is judged, every older route
// is already on the listener: it loses there iff it intersects an already attached route of the
// other kind. A winner of a chain thus keeps its place even when an older route of the other
// kind lost to an even older one (only attached routes count), and the outcome does not depend
// on the input order. A route that loses on every listener of a parentRef gets Accepted=False
// with Portico's reason HostnameConflict; losing on some listeners only keeps Accepted=True.
import type { Condition } from '../api/meta.ts';
import { GATEWAY_GROUP } from '../api/common.ts';
import type { IRHTTPRoute, IRL4Route } from '../ir/types.ts';
import type { Context } from './context.ts';
import { RouteConditions as RC } from './conditions.ts';
import { gatewayAccepted, listenerAccepted } from './gateway.ts';
import { intersect } from './hostnames.ts';
import { matchesSelector } from './labels.ts';
import type { Attachment, GatewayState, ListenerSetState, ListenerState, RouteState } from './state.ts';
import { int, objArr, str } from './util.ts';
import type { BackendRegistry } from './backends.ts';

/** A route after validation, independent of where it attaches. */
export interface CompiledRoute {
  state: RouteState;
  /** Route hostnames (valid ones); undefined for kinds without hostnames. Empty: any. */
  hostnames?: string[];
  /** Accepted=False condition when the route cannot be implemented at all. */
  notAccepted?: Condition;
  /** PartiallyInvalid=True when some rules were dropped. */
  partial?: Condition;
  /** First ResolvedRefs=False condition. */
  refs?: Condition;
  /** HTTP/gRPC: IR routes with their precedence keys. */
  http: { route: IRHTTPRoute; key: (number | string)[] }[];
  /** L4: IR routes (hostnames filled per listener). */
  l4: IRL4Route[];
  /** Backends used, for BackendTLSPolicy ancestors. */
  backendIds: string[];
}

/**
 * What one attachRoute() call read and did, so the incremental translator can replay it when
 * nothing it read has changed (incremental.ts).
 */
export interface AttachRecord {
  /** Parents looked up, in order: "Gateway ns/name" or "ListenerSet ns/name" (found or not). */
  lookups: string[];
  /** Listeners the route attached to: index into lookups, index into that parent's listeners, the attachment. */
  effects: { parent: number; listener: number; attachment: Attachment }[];
  /** Keys ("ns/name") of the Gateways that now use the route's backends. */
  uses: string[];
  /**
   * HTTP/gRPC listeners judged for cross serving: index into lookups, into that parent's
   * listeners, the route's effective hostnames there and the outcome (crossServingLoss(), '' when
   * the route won). A replay must find the same outcomes (other routes may have changed).
   */
  cross: { parent: number; listener: number; hosts: string[]; loss: string }[];
}

export interface Parents {
  gateways: Map<string, GatewayState>;
  listenerSets: Map<string, ListenerSetState>;
}

function allowsNamespace(ctx: Context, l: ListenerState, routeNs: string): boolean {
  const a = l.allowedNamespaces;
  switch (a.from) {
    case 'All': return true;
    case 'Same': return routeNs === (l.owner.metadata.namespace ?? 'default');
    case 'Selector': return matchesSelector(a.selector, ctx.namespaceLabels(routeNs));
    default: return false;
  }
}

/** Effective hostnames of a route on a listener; [] when none intersect. */
export function effectiveHostnames(listenerHost: string | undefined, routeHosts: string[] | undefined): string[] {
  if (routeHosts === undefined || routeHosts.length === 0) return [listenerHost ?? '*'];
  if (routeHosts.length === 1) {
    const i = intersect(listenerHost, routeHosts[0]);
    return i === undefined ? [] : [i];
  }
  const out = new Set<string>();
  for (const h of routeHosts) {
    const i = intersect(listenerHost, h);
    if (i !== undefined) out.add(i);
  }
  return [...out];
}

/** HTTPRoute and GRPCRoute attachments of each listener (the cross-serving rule reads them). */
const crossKinds = new WeakMap<ListenerState, { HTTPRoute: Attachment[]; GRPCRoute: Attachment[] }>();

/**
 * Attaches a route to a listener (also used by the incremental translator's replay); false when
 * the route is already attached there. Two parentRefs of one route may select the same listener
 * (the whole Gateway and one of its sections): the route counts once in attachedRoutes and its
 * rules appear once in the IR. A translation attaches routes in precedence order, so the new
 * attachment goes last and an earlier attachment of this route can only be the last one; the
 * incremental translator, attaching one changed route to listeners that hold the others, puts it
 * in its place by route order.
 */
export function addAttachment(l: ListenerState, a: Attachment): boolean {
  const atts = l.attachments;
  const at = insertionPoint(atts, a.route.order);
  const before = atts[at - 1];
  if (before && before.route.kind === a.route.kind && before.route.nsName === a.route.nsName) return false;
  l.attachedRoutes++;
  if (at === atts.length) atts.push(a);
  else atts.splice(at, 0, a);
  const kind = a.route.kind;
  if (kind !== 'HTTPRoute' && kind !== 'GRPCRoute') return true;
  let byKind = crossKinds.get(l);
  if (!byKind) crossKinds.set(l, (byKind = { HTTPRoute: [], GRPCRoute: [] }));
  const list = byKind[kind];
  const i = insertionPoint(list, a.route.order);
  if (i === list.length) list.push(a);
  else list.splice(i, 0, a);
  return true;
}

/** Takes an attachment made by addAttachment() off its listener (incremental translator). */
export function removeAttachment(l: ListenerState, a: Attachment): void {
  const i = l.attachments.lastIndexOf(a);
  if (i < 0) return;
  l.attachments.splice(i, 1);
  l.attachedRoutes--;
  const list = crossKinds.get(l)?.[a.route.kind as 'HTTPRoute' | 'GRPCRoute'];
  const j = list ? list.lastIndexOf(a) : -1;
  if (j >= 0) list!.splice(j, 1);
}

/** Where an attachment of a route with this order goes: after every attachment of a route not after it. */
function insertionPoint(atts: readonly Attachment[], order: number): number {
  let hi = atts.length;
  // The hot case (a full translation): after the last one.
  if (hi === 0 || atts[hi - 1]!.route.order <= order) return hi;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (atts[mid]!.route.order <= order) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Why a route (an HTTPRoute or GRPCRoute) may not attach to a listener with these effective
 * hostnames: the first attached route of the other kind sharing a hostname, as a message; ''
 * when there is none (or the kind is neither).
 */
export function crossServingLoss(l: ListenerState, route: RouteState, hosts: string[]): string {
  const other = route.kind === 'HTTPRoute' ? 'GRPCRoute' : route.kind === 'GRPCRoute' ? 'HTTPRoute' : undefined;
  const winners = other === undefined ? undefined : crossKinds.get(l)?.[other];
  if (!winners) return '';
  for (const w of winners) {
    for (const h of hosts) {
      for (const wh of w.hostnames) {
        const shared = intersect(h, wh);
        if (shared === undefined) continue;
        return `${w.route.kind} ${w.route.nsName} and ${route.kind} ${route.nsName} share hostname ${shared} on listener `
          + `${l.name}; the older route (then the first by namespace/name) wins: ${w.route.kind} ${w.route.nsName}.`;
      }
    }
  }
  return '';
}

/** parentRef as the API server would store it: group and kind defaulted. */
function normalizedParentRef(ref: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { group: str(ref.group) ?? GATEWAY_GROUP, kind: str(ref.kind) ?? 'Gateway' };
  for (const k of ['namespace', 'name', 'sectionName', 'port']) if (ref[k] !== undefined) out[k] = ref[k];
  return out;
}

/**
 * Attaches a compiled route to its parents; returns the status.parents entries (only for
 * Portico parents). Records attachments on listeners and backend usage per Gateway.
 */
export function attachRoute(
  ctx: Context, parents: Parents, reg: BackendRegistry, cr: CompiledRoute, rec?: AttachRecord,
): Record<string, unknown>[] {
  const route = cr.state;
  const entries: Record<string, unknown>[] = [];
  const refs = objArr(route.obj.spec && (route.obj.spec as Record<string, unknown>).parentRefs);
  // Duplicate parentRefs are skipped; with a single one there is nothing to compare.
  const seen = refs.length > 1 ? new Set<string>() : undefined;
  for (const raw of refs) {
    const group = str(raw.group) ?? GATEWAY_GROUP;
    const kind = str(raw.kind) ?? 'Gateway';
    const name = str(raw.name) ?? '';
    const ns = str(raw.namespace) ?? route.namespace;
    if (group !== GATEWAY_GROUP) continue;
    let listeners: ListenerState[];
    let gateway: GatewayState;
    if (kind === 'Gateway') {
      const gw = parents.gateways.get(`${ns}/${name}`);
      rec?.lookups.push(`Gateway ${ns}/${name}`);
      if (!gw) continue;
      gateway = gw;
      listeners = gw.listeners; // a Gateway parentRef never selects ListenerSet entries
    } else if (kind === 'ListenerSet') {
      const set = parents.listenerSets.get(`${ns}/${name}`);
      rec?.lookups.push(`ListenerSet ${ns}/${name}`);
      if (!set) continue;
      gateway = set.gateway;
      listeners = set.problem ? [] : set.listeners;
    } else continue;
    const parentRef = normalizedParentRef(raw);
    if (seen) {
      const dedupe = JSON.stringify(parentRef);
      if (seen.has(dedupe)) continue;
      seen.add(dedupe);
    }

    const conds = judgeParent(ctx, cr, raw, listeners, gateway, reg, rec);
    entries.push({ parentRef, controllerName: ctx.controllerName, conditions: conds });
  }
  return entries;
}

function judgeParent(
  ctx: Context, cr: CompiledRoute, raw: Record<string, unknown>, all: ListenerState[],
  gateway: GatewayState, reg: BackendRegistry, rec: AttachRecord | undefined,
): Condition[] {
  const route = cr.state;
  const sectionName = str(raw.sectionName);
  const port = raw.port === undefined ? undefined : int(raw.port);
  const refsCond = cr.refs ? { ...cr.refs } : RC.resolvedRefs();
  const withRefs = (c: Condition): Condition[] => {
    const out = [c, refsCond];
    if (cr.partial && c.status === 'True') out.push({ ...cr.partial });
    return out;
  };
  if (!gatewayAccepted(gateway)) {
    // The parent exists but is not accepted (e.g. its class is not): nothing can attach.
    return withRefs(RC.notAllowedByListeners(`Gateway ${gateway.namespace}/${gateway.name} is not accepted.`));
  }
  // One pass over the listeners: selected by sectionName/port, then accepted, then allowing
  // the route kind, then the route namespace (the counts tell which step rejected the route).
  let selected = 0;
  let usable = 0;
  let byKind = 0;
  const allowed: ListenerState[] = [];
  for (const l of all) {
    if ((sectionName !== undefined && l.name !== sectionName) || (raw.port !== undefined && l.port !== port)) continue;
    selected++;
    if (!listenerAccepted(l)) continue;
    usable++;
    if (!l.supportedKinds.some((k) => k.kind === route.kind && k.group === GATEWAY_GROUP)) continue;
    byKind++;
    if (allowsNamespace(ctx, l, route.namespace)) allowed.push(l);
  }
  if (selected === 0) {
    const what = sectionName !== undefined && raw.port !== undefined ? `sectionName ${sectionName} and port ${String(raw.port)}`
      : sectionName !== undefined ? `sectionName ${sectionName}` : raw.port !== undefined ? `port ${String(raw.port)}` : 'any listener';
    return withRefs(RC.noMatchingParent(`No listener matches ${what}.`));
  }
  if (usable === 0) return withRefs(RC.notAllowedByListeners('No selected listener is accepted.'));
  if (allowed.length === 0) {
    return withRefs(RC.notAllowedByListeners(byKind === 0
      ? `No selected listener allows route kind ${route.kind}.`
      : `No selected listener allows routes from namespace ${route.namespace}.`));
  }
  const matched: { l: ListenerState; hosts: string[] }[] = [];
  for (const l of allowed) {
    const hosts = cr.hostnames === undefined ? ['*'] : effectiveHostnames(l.hostname, cr.hostnames);
    if (hosts.length > 0) matched.push({ l, hosts });
  }
  if (matched.length === 0) return withRefs(RC.noMatchingListenerHostname('No route hostname matches a listener hostname.'));
  if (cr.notAccepted) return withRefs({ ...cr.notAccepted });
  // Cross serving (see the top of this file): the listeners this route does not lose.
  let lost = '';
  const winning = route.kind !== 'HTTPRoute' && route.kind !== 'GRPCRoute' ? matched : matched.filter(({ l, hosts }) => {
    const loss = crossServingLoss(l, route, hosts);
    rec?.cross.push({ parent: rec.lookups.length - 1, listener: all.indexOf(l), hosts, loss });
    lost ||= loss;
    return loss === '';
  });
  if (winning.length === 0) return withRefs(RC.hostnameConflict(lost));
  const gwKey = `${gateway.namespace}/${gateway.name}`;
  reg.useAll(cr.backendIds, gwKey);
  for (const { l, hosts } of winning) {
    const attachment: Attachment = { route: cr.state, hostnames: hosts };
    if (!addAttachment(l, attachment)) continue;
    rec?.effects.push({ parent: rec.lookups.length - 1, listener: all.indexOf(l), attachment });
  }
  rec?.uses.push(gwKey);
  return withRefs(RC.accepted());
}
