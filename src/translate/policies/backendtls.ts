// BackendTLSPolicy: TLS origination to Services. Conflicts (two policies on the same Service
// and sectionName): the oldest wins, then namespace/name; losers are Accepted=False Conflicted.
// Status is one ancestor entry per Portico Gateway whose routes use a targeted Service.
// A policy whose CA cannot be resolved still applies, marked invalid: those requests fail
// with a 5xx, as the spec requires (never fall back to plaintext).
import type { Condition, KubeObject } from '../../api/meta.ts';
import { GATEWAY_GROUP } from '../../api/common.ts';
import type { IRBackendTLS } from '../../ir/types.ts';
import type { BackendRegistry } from '../backends.ts';
import { readCABundle } from '../certificates.ts';
import type { Context } from '../context.ts';
import { PolicyConditions as PC } from '../conditions.ts';
import { cmpAge, cmpStr, createdAt, isHostname, obj, objArr, str } from '../util.ts';

interface Verdict {
  accepted: Condition;
  resolved: Condition;
  tls?: IRBackendTLS;
}

function evaluate(ctx: Context, policy: KubeObject): Verdict {
  const ns = policy.metadata.namespace ?? 'default';
  const v = obj(obj(policy.spec).validation);
  const source = { kind: 'BackendTLSPolicy', namespace: ns, name: policy.metadata.name };
  const hostname = str(v.hostname);
  if (!hostname || !isHostname(hostname, false)) {
    return { accepted: PC.invalid('validation.hostname must be a valid hostname.'), resolved: PC.resolvedRefs() };
  }
  const refs = objArr(v.caCertificateRefs);
  const wellKnown = v.wellKnownCACertificates;
  if ((refs.length > 0) === (wellKnown !== undefined)) {
    return { accepted: PC.invalid('Exactly one of caCertificateRefs and wellKnownCACertificates must be set.'), resolved: PC.resolvedRefs() };
  }
  const sans: NonNullable<IRBackendTLS['subjectAltNames']> = [];
  for (const s of objArr(v.subjectAltNames)) {
    if (str(s.type) === 'Hostname' && str(s.hostname)) sans.push({ type: 'Hostname', hostname: str(s.hostname)! });
    else if (str(s.type) === 'URI' && str(s.uri)) sans.push({ type: 'URI', uri: str(s.uri)! });
    else return { accepted: PC.invalid('subjectAltNames entry is invalid.'), resolved: PC.resolvedRefs() };
  }
  const tls: IRBackendTLS = { sni: hostname, source };
  if (sans.length > 0) tls.subjectAltNames = sans;
  if (wellKnown !== undefined) {
    if (wellKnown !== 'System') return { accepted: PC.invalid(`wellKnownCACertificates ${JSON.stringify(wellKnown)} is not supported.`), resolved: PC.resolvedRefs() };
    tls.wellKnown = 'System';
    return { accepted: PC.accepted(), resolved: PC.resolvedRefs(), tls };
  }
  const pems: string[] = [];
  let problem: Condition | undefined;
  for (const r of refs) {
    const group = str(r.group) ?? '';
    const kind = str(r.kind) ?? '';
    const name = str(r.name) ?? '';
    if (group !== '' || kind !== 'ConfigMap') {
      problem ??= PC.invalidKind(`CA certificate reference kind ${group}/${kind} is not supported; use ConfigMap.`);
      continue;
    }
    const cm = ctx.get('ConfigMap', ns, name);
    const ca = cm ? readCABundle(cm) : { ok: false as const, message: `ConfigMap ${ns}/${name} not found.` };
    if (!ca.ok) {
      problem ??= PC.invalidCACertificateRef(ca.message);
      continue;
    }
    pems.push(ca.pem);
  }
  if (pems.length === 0) {
    return { accepted: PC.noValidCACertificate('No valid CA certificate.'), resolved: problem ?? PC.resolvedRefs(), tls: { ...tls, invalid: true } };
  }
  tls.caPem = pems.join('');
  return { accepted: PC.accepted(), resolved: problem ?? PC.resolvedRefs(), tls };
}

/** Applies policies to IR backends; returns the status of each policy with ancestors. */
export function translateBackendTLSPolicies(ctx: Context, reg: BackendRegistry): Map<KubeObject, Record<string, unknown>> {
  const out = new Map<KubeObject, Record<string, unknown>>();
  const policies = [...ctx.list('BackendTLSPolicy')].sort((a, b) => cmpAge(
    { created: createdAt(a.metadata), nsName: `${a.metadata.namespace}/${a.metadata.name}` },
    { created: createdAt(b.metadata), nsName: `${b.metadata.namespace}/${b.metadata.name}` }));
  const claimed = new Map<string, string>(); // "ns/svc#section" → winning policy name
  for (const policy of policies) {
    const ns = policy.metadata.namespace ?? 'default';
    const verdict = evaluate(ctx, policy);
    const ancestors = new Set<string>();
    let conflict: string | undefined;
    let missingSection: string | undefined;
    const targets: { ids: string[]; key: string }[] = [];
    for (const t of objArr(obj(policy.spec).targetRefs)) {
      if ((str(t.group) ?? '') !== '' || str(t.kind) !== 'Service') continue;
      const svc = str(t.name) ?? '';
      const section = str(t.sectionName);
      const all = [...(reg.byService.get(`${ns}/${svc}`) ?? [])];
      const ids = all.filter((id) => section === undefined || reg.portNames.get(id) === section);
      for (const id of all) for (const g of reg.usedBy.get(id) ?? []) ancestors.add(g);
      const service = ctx.get('Service', ns, svc);
      if (section !== undefined && service && !objArr(obj(service.spec).ports).some((p) => str(p.name) === section)) {
        missingSection ??= `Service ${ns}/${svc} has no port named ${section}.`;
      }
      const key = `${ns}/${svc}#${section ?? ''}`;
      const winner = claimed.get(key);
      if (winner !== undefined && winner !== policy.metadata.name) conflict ??= winner;
      targets.push({ ids, key });
    }
    if (ancestors.size === 0) continue; // no Portico Gateway uses a target: nothing to report
    let accepted = verdict.accepted;
    if (missingSection !== undefined) accepted = PC.targetNotFound(missingSection);
    else if (conflict !== undefined) accepted = PC.conflicted(`BackendTLSPolicy ${ns}/${conflict} targets the same Service and takes precedence.`);
    else {
      for (const t of targets) {
        claimed.set(t.key, policy.metadata.name);
        if (verdict.tls && (accepted.status === 'True' || verdict.tls.invalid)) {
          for (const id of t.ids) {
            const b = reg.backends.get(id);
            if (!b || b.tls) continue;
            // A new object: the registered one may be shared with the incremental translator's memory.
            const withTLS = { ...b, tls: verdict.tls };
            if (withTLS.protocol === 'h2c') withTLS.protocol = 'h2';
            reg.backends.set(id, withTLS);
          }
        }
      }
    }
    const entries = [...ancestors].sort(cmpStr).map((g) => {
      const [gns, gname] = g.split('/');
      return {
        ancestorRef: { group: GATEWAY_GROUP, kind: 'Gateway', namespace: gns, name: gname },
        controllerName: ctx.controllerName,
        conditions: [{ ...accepted }, { ...verdict.resolved }],
      };
    });
    out.set(policy, { ancestors: entries });
  }
  return out;
}
