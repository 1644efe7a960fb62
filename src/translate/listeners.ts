// Validation of one listener (a Gateway listener or a ListenerSet entry): protocol, hostname,
// TLS mode and certificates, frontend client validation, allowed route kinds and namespaces.
// Conflicts between listeners are decided later (conflicts.ts), over the merged list.
import type { KubeObject } from '../api/meta.ts';
import { GATEWAY_GROUP } from '../api/common.ts';
import type { IRCertificate, IRListenerTLS } from '../ir/types.ts';
import type { Context } from './context.ts';
import { GatewayConditions, ListenerConditions as LC } from './conditions.ts';
import { readCABundle, readTLSSecret } from './certificates.ts';
import { refAllowed } from './refgrants.ts';
import type { AllowedNamespaces, GatewayState, GroupKind, ListenerState } from './state.ts';
import { PROTOCOL_KINDS, isListenerProtocol } from './state.ts';
import { int, isHostname, isObj, obj, objArr, str, strMap } from './util.ts';
import { ListenerReason } from '../api/conditions.ts';
import { tlsOptionsProblem } from './tls-options.ts';

/** Frontend client-certificate validation that applies to a port (Gateway spec.tls.frontend). */
export interface FrontendValidation {
  refs: readonly Record<string, unknown>[];
  mode: string;
}

export function frontendValidationFor(gw: KubeObject, port: number): FrontendValidation | undefined {
  const frontend = obj(obj(obj(gw.spec).tls).frontend);
  const perPort = objArr(frontend.perPort).find((p) => int(p.port) === port);
  const validation = perPort ? obj(obj(perPort.tls).validation) : obj(obj(frontend.default).validation);
  if (!isObj(perPort ? obj(perPort.tls).validation : obj(frontend.default).validation)) return undefined;
  return { refs: objArr(validation.caCertificateRefs), mode: str(validation.mode) ?? 'AllowValidOnly' };
}

export function listenerId(owner: KubeObject, name: string): string {
  return owner.kind === 'Gateway'
    ? `${owner.metadata.namespace}/${owner.metadata.name}/${name}`
    : `${owner.metadata.namespace}/listenerset:${owner.metadata.name}/${name}`;
}

export function buildListener(ctx: Context, gw: GatewayState, owner: KubeObject, spec: Record<string, unknown>, index: number): ListenerState {
  const name = str(spec.name) ?? `listener-${index}`;
  const protocol = str(spec.protocol) ?? '';
  const l: ListenerState = {
    id: listenerId(owner, name),
    gateway: gw,
    owner,
    ownerKind: owner.kind === 'ListenerSet' ? 'ListenerSet' : 'Gateway',
    name,
    port: int(spec.port) ?? 0,
    protocol,
    supportedKinds: [],
    allowedNamespaces: { from: 'Same' },
    attachedRoutes: 0,
    attachments: [],
  };
  const hostname = spec.hostname;
  if (hostname !== undefined) {
    if (typeof hostname !== 'string' || !isHostname(hostname)) {
      l.notAccepted = LC.unsupportedValue(`Listener hostname ${JSON.stringify(hostname)} is not a valid hostname.`);
    } else l.hostname = hostname;
  }
  if (!isListenerProtocol(protocol)) {
    l.notAccepted = LC.unsupportedProtocol(`Protocol ${JSON.stringify(protocol)} is not supported; use HTTP, HTTPS, TLS, TCP or UDP.`);
    return l;
  }
  if (l.port < 1 || l.port > 65535) {
    l.notAccepted ??= LC.unsupportedValue(`Port ${JSON.stringify(spec.port)} is not a valid port number.`);
  }
  if ((protocol === 'TCP' || protocol === 'UDP') && l.hostname !== undefined) {
    l.notAccepted ??= LC.unsupportedValue(`hostname is not allowed on ${protocol} listeners.`);
  }
  resolveKinds(l, spec);
  resolveNamespaces(l, spec);
  resolveTLS(ctx, l, spec);
  return l;
}

function resolveKinds(l: ListenerState, spec: Record<string, unknown>): void {
  const defaults = PROTOCOL_KINDS[l.protocol] ?? [];
  const allowed = obj(spec.allowedRoutes);
  if (!Array.isArray(allowed.kinds)) {
    l.supportedKinds = defaults.map((k) => ({ ...k }));
    return;
  }
  const out: GroupKind[] = [];
  const invalid: string[] = [];
  for (const k of objArr(allowed.kinds)) {
    const group = str(k.group) ?? GATEWAY_GROUP;
    const kind = str(k.kind) ?? '';
    const ok = defaults.some((d) => d.group === group && d.kind === kind);
    if (!ok) invalid.push(`${group}/${kind}`);
    else if (!out.some((o) => o.kind === kind)) out.push({ group, kind });
  }
  l.supportedKinds = out;
  if (invalid.length > 0) {
    l.refsProblem ??= LC.invalidRouteKinds(`Route kinds ${invalid.join(', ')} are not supported on a ${l.protocol} listener.`);
  }
}

function resolveNamespaces(l: ListenerState, spec: Record<string, unknown>): void {
  const ns = obj(obj(spec.allowedRoutes).namespaces);
  const from = str(ns.from) ?? 'Same';
  const a: AllowedNamespaces = { from: from === 'All' || from === 'Selector' || from === 'Same' ? from : 'None' };
  if (a.from === 'Selector') a.selector = ns.selector;
  if (a.from === 'None' && from !== 'None') {
    l.notAccepted ??= LC.unsupportedValue(`allowedRoutes.namespaces.from ${JSON.stringify(from)} is not supported.`);
  }
  l.allowedNamespaces = a;
}

function resolveTLS(ctx: Context, l: ListenerState, spec: Record<string, unknown>): void {
  const tlsSpec = spec.tls;
  const p = l.protocol;
  if (tlsSpec !== undefined && tlsSpec !== null && (p === 'HTTP' || p === 'TCP' || p === 'UDP')) {
    l.notAccepted ??= LC.unsupportedValue(`tls is not allowed on ${p} listeners.`);
    return;
  }
  if (p !== 'HTTPS' && p !== 'TLS') return;
  const tls = obj(tlsSpec);
  const mode = str(tls.mode) ?? (p === 'HTTPS' ? 'Terminate' : undefined);
  if (mode !== 'Terminate' && mode !== 'Passthrough') {
    l.notAccepted ??= LC.unsupportedValue(p === 'TLS' && mode === undefined
      ? 'TLS listeners must set tls.mode.' : `TLS mode ${JSON.stringify(tls.mode)} is not supported.`);
    return;
  }
  if (p === 'HTTPS' && mode !== 'Terminate') {
    l.notAccepted ??= LC.unsupportedValue('HTTPS listeners only support tls.mode Terminate.');
    return;
  }
  l.tlsMode = mode;
  const options = strMap(tls.options);
  const optionsProblem = tlsOptionsProblem(obj(tls.options), mode);
  // Not served with weaker settings than asked for; references are still resolved and reported.
  if (optionsProblem !== undefined) l.notAccepted ??= LC.unsupportedValue(optionsProblem);
  const irTLS: IRListenerTLS = { mode, certificates: [] };
  if (Object.keys(options).length > 0) irTLS.options = options;
  l.tls = irTLS;
  if (mode === 'Passthrough') return;

  const refs = objArr(tls.certificateRefs);
  for (const ref of refs) {
    const cert = resolveCertificateRef(ctx, l, ref);
    if (cert) irTLS.certificates.push(cert);
  }
  if (irTLS.certificates.length === 0) {
    // Accepted stays True (conformance: attachedRoutes is still counted), but nothing can be served.
    l.notProgrammed = refs.length === 0
      ? LC.notProgrammed(ListenerReason.InvalidTLSConfig, 'Listener terminates TLS but has no certificateRefs.')
      : LC.notProgrammed(ListenerReason.Invalid, 'Listener has no valid certificate.');
  }
  resolveFrontendValidation(ctx, l, irTLS);
}

function resolveCertificateRef(ctx: Context, l: ListenerState, ref: Record<string, unknown>): IRCertificate | undefined {
  const group = str(ref.group) ?? '';
  const kind = str(ref.kind) ?? 'Secret';
  const name = str(ref.name) ?? '';
  const ownerNs = l.owner.metadata.namespace ?? 'default';
  const ns = str(ref.namespace) ?? ownerNs;
  if (group !== '' || kind !== 'Secret') {
    l.refsProblem ??= LC.invalidCertificateRef(`Certificate reference ${group}/${kind} ${name} is not a core Secret.`);
    return undefined;
  }
  if (!refAllowed(ctx, { group: GATEWAY_GROUP, kind: l.ownerKind, namespace: ownerNs }, { group: '', kind: 'Secret', namespace: ns, name })) {
    l.refsProblem ??= LC.refNotPermitted(`Reference to Secret ${ns}/${name} is not permitted by any ReferenceGrant.`);
    return undefined;
  }
  const secret = ctx.get('Secret', ns, name);
  if (!secret) {
    l.refsProblem ??= LC.invalidCertificateRef(`Secret ${ns}/${name} not found.`);
    return undefined;
  }
  const r = readTLSSecret(secret);
  if (!r.ok) {
    l.refsProblem ??= LC.invalidCertificateRef(r.message);
    return undefined;
  }
  return { certPem: r.certPem, keyPem: r.keyPem, source: { kind: 'Secret', namespace: ns, name } };
}

function resolveFrontendValidation(ctx: Context, l: ListenerState, irTLS: IRListenerTLS): void {
  const fv = frontendValidationFor(l.gateway.obj, l.port);
  if (!fv) return;
  const gwNs = l.gateway.namespace;
  const pems: string[] = [];
  for (const ref of fv.refs) {
    const group = str(ref.group) ?? '';
    const kind = str(ref.kind) ?? '';
    const name = str(ref.name) ?? '';
    const ns = str(ref.namespace) ?? gwNs;
    if (group !== '' || (kind !== 'ConfigMap' && kind !== 'Secret')) {
      l.refsProblem ??= LC.invalidCACertificateKind(`CA certificate reference kind ${group}/${kind} is not supported; use ConfigMap or Secret.`);
      continue;
    }
    if (!refAllowed(ctx, { group: GATEWAY_GROUP, kind: 'Gateway', namespace: gwNs }, { group: '', kind, namespace: ns, name })) {
      l.refsProblem ??= LC.refNotPermitted(`Reference to ${kind} ${ns}/${name} is not permitted by any ReferenceGrant.`);
      continue;
    }
    const src = ctx.get(kind === 'ConfigMap' ? 'ConfigMap' : 'Secret', ns, name);
    if (!src) {
      l.refsProblem ??= LC.invalidCACertificateRef(`${kind} ${ns}/${name} not found.`);
      continue;
    }
    const ca = readCABundle(src);
    if (!ca.ok) {
      l.refsProblem ??= LC.invalidCACertificateRef(ca.message);
      continue;
    }
    pems.push(ca.pem);
  }
  if (pems.length === 0) {
    l.notAccepted ??= LC.noValidCACertificate('No valid CA certificate for client certificate validation.');
    return;
  }
  const mode = fv.mode === 'AllowInsecureFallback' ? 'AllowInsecureFallback' : 'AllowValidOnly';
  irTLS.clientValidation = { caPem: pems.join(''), mode };
  if (mode === 'AllowInsecureFallback') {
    l.gateway.insecureFrontend ??= GatewayConditions.insecureFrontendValidation(
      'Client certificate validation allows insecure fallback (AllowInsecureFallback).');
  }
}
