// Gateways of Portico's classes: addresses, infrastructure parameters, the backend client
// certificate, each listener (listeners.ts), and finally the Gateway and listener status once
// conflicts (conflicts.ts) and route attachment (attach.ts) are known.
import type { Condition } from '../api/meta.ts';
import { ADDRESS_TYPE_IP, GATEWAY_GROUP } from '../api/common.ts';
import type { Context } from './context.ts';
import type { ClassResult } from './gatewayclass.ts';
import { GatewayConditions as GC, ListenerConditions as LC } from './conditions.ts';
import { readTLSSecret } from './certificates.ts';
import { buildListener } from './listeners.ts';
import { refAllowed } from './refgrants.ts';
import type { GatewayState, ListenerState } from './state.ts';
import { arr, isIP, isObj, obj, objArr, str } from './util.ts';
import { ListenerReason } from '../api/conditions.ts';

export function buildGateways(ctx: Context, classes: Map<string, ClassResult>): GatewayState[] {
  const out: GatewayState[] = [];
  for (const gwObj of ctx.list('Gateway')) {
    const spec = obj(gwObj.spec);
    const cls = classes.get(str(spec.gatewayClassName) ?? '');
    if (!cls) continue;
    const gw: GatewayState = {
      obj: gwObj,
      namespace: gwObj.metadata.namespace ?? 'default',
      name: gwObj.metadata.name,
      addresses: [],
      listeners: [],
      setListeners: [],
      listenerSets: [],
    };
    if (!cls.accepted) gw.acceptedProblem = GC.invalid(`GatewayClass ${cls.obj.metadata.name} is not accepted.`);
    resolveAddresses(ctx, gw, spec.addresses);
    resolveInfrastructure(ctx, gw, spec.infrastructure);
    resolveBackendClientCertificate(ctx, gw, obj(obj(spec.tls).backend).clientCertificateRef);
    const seen = new Set<string>();
    objArr(spec.listeners).forEach((ls, i) => {
      const l = buildListener(ctx, gw, gwObj, ls, i);
      // Duplicate names would make status ambiguous (the CRD forbids them): keep the first.
      if (seen.has(l.name)) return;
      seen.add(l.name);
      gw.listeners.push(l);
    });
    out.push(gw);
  }
  return out;
}

function resolveAddresses(ctx: Context, gw: GatewayState, addresses: unknown): void {
  const local = ctx.options.localAddresses;
  for (const a of arr(addresses)) {
    const type = str(obj(a).type) ?? ADDRESS_TYPE_IP;
    const value = str(obj(a).value) ?? '';
    if (!isObj(a) || type !== ADDRESS_TYPE_IP) {
      gw.acceptedProblem ??= GC.unsupportedAddress(`Address type ${JSON.stringify(type)} is not supported; only IPAddress is.`);
      continue;
    }
    if (value === '') continue; // empty value: Portico assigns (the bind address)
    if (!isIP(value)) {
      gw.acceptedProblem ??= GC.unsupportedAddress(`Address ${JSON.stringify(value)} is not an IP address.`);
      continue;
    }
    if (local && !local.includes(value) && value !== '0.0.0.0' && value !== '::') {
      gw.programmedProblem ??= GC.addressNotUsable(`Address ${value} is not available on this host.`);
      continue;
    }
    if (!gw.addresses.includes(value)) gw.addresses.push(value);
  }
}

function resolveInfrastructure(ctx: Context, gw: GatewayState, infra: unknown): void {
  const ref = obj(infra).parametersRef;
  if (ref === undefined) return;
  const r = obj(ref);
  const group = str(r.group) ?? '';
  const kind = str(r.kind) ?? '';
  const name = str(r.name) ?? '';
  if (group !== '' || kind !== 'ConfigMap') {
    gw.acceptedProblem ??= GC.invalidParameters(`infrastructure.parametersRef ${group}/${kind} ${name} is not supported; only core ConfigMap is.`);
  } else if (!ctx.get('ConfigMap', gw.namespace, name)) {
    gw.acceptedProblem ??= GC.invalidParameters(`ConfigMap ${gw.namespace}/${name} not found.`);
  }
}

function resolveBackendClientCertificate(ctx: Context, gw: GatewayState, ref: unknown): void {
  if (ref === undefined) return;
  const r = obj(ref);
  const group = str(r.group) ?? '';
  const kind = str(r.kind) ?? 'Secret';
  const name = str(r.name) ?? '';
  const ns = str(r.namespace) ?? gw.namespace;
  if (group !== '' || kind !== 'Secret') {
    gw.refsProblem = GC.invalidClientCertificateRef(`Client certificate reference ${group}/${kind} ${name} is not a core Secret.`);
    return;
  }
  if (!refAllowed(ctx, { group: GATEWAY_GROUP, kind: 'Gateway', namespace: gw.namespace }, { group: '', kind: 'Secret', namespace: ns, name })) {
    gw.refsProblem = GC.refNotPermitted(`Reference to Secret ${ns}/${name} is not permitted by any ReferenceGrant.`);
    return;
  }
  const secret = ctx.get('Secret', ns, name);
  if (!secret) {
    gw.refsProblem = GC.invalidClientCertificateRef(`Secret ${ns}/${name} not found.`);
    return;
  }
  const r2 = readTLSSecret(secret);
  if (!r2.ok) {
    gw.refsProblem = GC.invalidClientCertificateRef(r2.message);
    return;
  }
  gw.backendClientCertificate = { certPem: r2.certPem, keyPem: r2.keyPem, source: { kind: 'Secret', namespace: ns, name } };
}

/** Accepted listener: valid and not conflicted. */
export function listenerAccepted(l: ListenerState): boolean {
  return !l.notAccepted && !l.conflicted;
}

export function gatewayAccepted(gw: GatewayState): boolean {
  return !gw.acceptedProblem && gw.listeners.some(listenerAccepted);
}

/** Listener usable in the IR: accepted, programmable, and its Gateway accepted and programmable. */
export function listenerLive(l: ListenerState): boolean {
  return listenerAccepted(l) && !l.notProgrammed && gatewayAccepted(l.gateway) && !l.gateway.programmedProblem;
}

export function listenerConditions(l: ListenerState): Condition[] {
  const conds: Condition[] = [];
  const accepted = listenerAccepted(l);
  if (l.notAccepted) conds.push({ ...l.notAccepted });
  else if (l.conflicted) conds.push(LC.notAcceptedConflict(l.conflicted.reason, l.conflicted.message));
  else conds.push(LC.accepted());
  if (listenerLive(l)) conds.push(LC.programmed());
  else if (!accepted) conds.push(LC.notProgrammed(l.conflicted && !l.notAccepted ? l.conflicted.reason : ListenerReason.Invalid, 'Listener is not accepted.'));
  else if (l.notProgrammed) conds.push({ ...l.notProgrammed });
  else conds.push(LC.notProgrammed(ListenerReason.Pending, 'The Gateway is not accepted or not programmed.'));
  conds.push(l.refsProblem ? { ...l.refsProblem } : LC.resolvedRefs());
  conds.push(l.conflicted ? { ...l.conflicted } : LC.noConflicts());
  if (l.overlapping && accepted) conds.push({ ...l.overlapping });
  return conds;
}

export function listenerStatus(l: ListenerState): Record<string, unknown> {
  // A listener whose protocol cannot be served on its port (ProtocolConflict) supports no route
  // kind in this configuration; TLSRouteListenerMixedTerminationNotSupported expects none listed.
  const protocolConflict = !l.notAccepted && l.conflicted?.reason === ListenerReason.ProtocolConflict;
  return {
    name: l.name,
    supportedKinds: protocolConflict ? [] : l.supportedKinds.map((k) => ({ group: k.group, kind: k.kind })),
    attachedRoutes: l.attachedRoutes,
    conditions: listenerConditions(l),
  };
}

export function gatewayStatus(ctx: Context, gw: GatewayState): Record<string, unknown> {
  const conds: Condition[] = [];
  const invalid = gw.listeners.filter((l) => !listenerAccepted(l));
  const accepted = gatewayAccepted(gw);
  if (gw.acceptedProblem) conds.push({ ...gw.acceptedProblem });
  else if (!accepted) conds.push(GC.listenersNotValid('No listener is valid.'));
  else if (invalid.length > 0) conds.push(GC.listenersNotValidAccepted(`Invalid listeners: ${invalid.map((l) => l.name).join(', ')}.`));
  else conds.push(GC.accepted());
  if (!accepted) conds.push(GC.notProgrammedInvalid('The Gateway is not accepted.'));
  else if (gw.programmedProblem) conds.push({ ...gw.programmedProblem });
  // Nothing of a Gateway none of whose listeners can be programmed reaches the data plane
  // (ir.ts keeps live listeners only): its Programmed must not claim otherwise.
  else if (![...gw.listeners, ...gw.setListeners].some((l) => listenerAccepted(l) && !l.notProgrammed)) {
    conds.push(GC.notProgrammedInvalid('No listener can be programmed.'));
  }
  else conds.push(GC.programmed());
  const unresolved = gw.listeners.filter((l) => l.refsProblem);
  if (gw.refsProblem) conds.push({ ...gw.refsProblem });
  else if (unresolved.length > 0) conds.push(GC.listenersNotResolved(`Listeners with unresolved references: ${unresolved.map((l) => l.name).join(', ')}.`));
  else conds.push(GC.resolvedRefs());
  if (gw.insecureFrontend) conds.push({ ...gw.insecureFrontend });
  const addrs = gw.addresses.length > 0 ? gw.addresses : (ctx.options.defaultAddresses ?? []);
  const status: Record<string, unknown> = {
    conditions: conds,
    listeners: gw.listeners.map(listenerStatus),
    // Only Accepted sets count (listenerset.ts: a set is Accepted when one listener can serve).
    attachedListenerSets: gw.listenerSets.filter((s) => !s.problem && s.listeners.some((l) => listenerAccepted(l) && !l.notProgrammed)).length,
  };
  if (accepted) status.addresses = addrs.map((value) => ({ type: ADDRESS_TYPE_IP, value }));
  return status;
}
