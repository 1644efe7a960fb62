// XBackendTrafficPolicy (experimental, gateway.networking.x-k8s.io): a retry budget
// (retryConstraint, GEP-3388) and session persistence for the Services it targets. As for
// BackendTLSPolicy, the status is one ancestor entry per Portico Gateway whose routes use a
// targeted Service, and two policies on the same Service conflict: the oldest wins (then
// namespace/name), the others are Accepted=False/Conflicted. An invalid policy is reported and
// changes nothing. Applied to the IR backend clusters of the targets (retryBudget,
// sessionPersistence); the data plane enforces them.
import type { Condition, KubeObject } from '../../api/meta.ts';
import { GATEWAY_GROUP } from '../../api/common.ts';
import type { IRRetryBudget, IRSessionPersistence, Source } from '../../ir/types.ts';
import type { BackendRegistry } from '../backends.ts';
import type { Context } from '../context.ts';
import { PolicyConditions as PC } from '../conditions.ts';
import { isProblem } from '../filters.ts';
import { sessionPersistence } from '../httproute.ts';
import { cmpAge, cmpStr, createdAt, durationMs, int, isObj, obj, objArr, str } from '../util.ts';

const HOUR_MS = 3_600_000;

interface Settings {
  retryBudget?: IRRetryBudget;
  sessionPersistence?: IRSessionPersistence;
}

/** spec.retryConstraint → the IR budget, with the CRD's defaults; a string is the problem. */
function retryBudget(raw: unknown): IRRetryBudget | string | undefined {
  if (raw === undefined) return undefined;
  if (!isObj(raw)) return 'retryConstraint must be an object.';
  const budget = raw.budget === undefined ? {} : obj(raw.budget);
  const percent = budget.percent === undefined ? 20 : int(budget.percent);
  if (percent === undefined || percent < 0 || percent > 100) return 'retryConstraint.budget.percent must be an integer from 0 to 100.';
  const interval = budget.interval === undefined ? 10_000 : durationMs(budget.interval);
  if (interval === undefined || interval < 1000 || interval > HOUR_MS) return 'retryConstraint.budget.interval must be a duration from 1s to 1h.';
  // minRetryRate defaults to 10 per second; a field left out of a given one takes that default too.
  const rate = raw.minRetryRate === undefined ? {} : obj(raw.minRetryRate);
  const count = rate.count === undefined ? 10 : int(rate.count);
  if (count === undefined || count < 1 || count > 1_000_000) return 'retryConstraint.minRetryRate.count must be an integer from 1 to 1000000.';
  const rateInterval = rate.interval === undefined ? 1000 : durationMs(rate.interval);
  if (rateInterval === undefined || rateInterval === 0 || rateInterval > HOUR_MS) return 'retryConstraint.minRetryRate.interval must be a duration above 0s and up to 1h.';
  return { percent, intervalMs: interval, minRetryRate: { count, intervalMs: rateInterval } };
}

function evaluate(policy: KubeObject): Settings | string {
  const spec = obj(policy.spec);
  const out: Settings = {};
  const budget = retryBudget(spec.retryConstraint);
  if (typeof budget === 'string') return budget;
  if (budget) out.retryBudget = budget;
  const sp = sessionPersistence(spec.sessionPersistence);
  if (isProblem(sp)) return sp.message;
  if (sp) out.sessionPersistence = sp;
  return out;
}

/** Applies policies to IR backends; returns the status of each policy Portico reports on. */
export function translateBackendTrafficPolicies(ctx: Context, reg: BackendRegistry): Map<KubeObject, Record<string, unknown>> {
  const out = new Map<KubeObject, Record<string, unknown>>();
  const policies = [...ctx.list('XBackendTrafficPolicy')].sort((a, b) => cmpAge(
    { created: createdAt(a.metadata), nsName: `${a.metadata.namespace}/${a.metadata.name}` },
    { created: createdAt(b.metadata), nsName: `${b.metadata.namespace}/${b.metadata.name}` }));
  const claimed = new Map<string, string>(); // "ns/svc" → winning policy name
  for (const policy of policies) {
    const ns = policy.metadata.namespace ?? 'default';
    const ancestors = new Set<string>();
    const services: string[] = [];
    let conflict: string | undefined;
    for (const t of objArr(obj(policy.spec).targetRefs)) {
      if ((str(t.group) ?? '') !== '' || str(t.kind) !== 'Service') continue;
      const key = `${ns}/${str(t.name) ?? ''}`;
      for (const id of reg.byService.get(key) ?? []) for (const g of reg.usedBy.get(id) ?? []) ancestors.add(g);
      const winner = claimed.get(key);
      if (winner !== undefined && winner !== policy.metadata.name) conflict ??= winner;
      if (!services.includes(key)) services.push(key);
    }
    if (ancestors.size === 0) continue; // no Portico Gateway uses a target: nothing to report
    const settings = evaluate(policy);
    let accepted: Condition;
    if (typeof settings === 'string') accepted = PC.invalid(settings);
    else if (conflict !== undefined) accepted = PC.conflicted(`XBackendTrafficPolicy ${ns}/${conflict} targets the same Service and takes precedence.`);
    else {
      accepted = PC.accepted();
      const source: Source = { kind: 'XBackendTrafficPolicy', namespace: ns, name: policy.metadata.name };
      for (const key of services) {
        claimed.set(key, policy.metadata.name);
        for (const id of reg.byService.get(key) ?? []) {
          const b = reg.backends.get(id);
          if (!b) continue;
          // A new object: the registered one may be shared with the incremental translator's memory.
          const applied = { ...b, trafficPolicy: source };
          if (settings.retryBudget) applied.retryBudget = settings.retryBudget;
          if (settings.sessionPersistence) applied.sessionPersistence = settings.sessionPersistence;
          reg.backends.set(id, applied);
        }
      }
    }
    const entries = [...ancestors].sort(cmpStr).map((g) => {
      const [gns, gname] = g.split('/');
      return {
        ancestorRef: { group: GATEWAY_GROUP, kind: 'Gateway', namespace: gns, name: gname },
        controllerName: ctx.controllerName,
        conditions: [{ ...accepted }],
      };
    });
    out.set(policy, { ancestors: entries });
  }
  return out;
}
