// TLSRoute, TCPRoute, UDPRoute → IR L4 routes. Each rule becomes one IR route with its
// weighted backends; invalid backends keep their weight (those connections are refused).
// TLSRoute hostnames are intersected with the listener at attachment time (ir.ts).
import type { CompiledRoute } from './attach.ts';
import type { BackendRegistry, BackendUse } from './backends.ts';
import type { Context } from './context.ts';
import { isProblem } from './filters.ts';
import { filterEnv, finishRules, newCompiled, routeHostnames, weightedBackends } from './rules.ts';
import type { RuleProblem } from './filters.ts';
import type { RouteState } from './state.ts';
import { obj, objArr, str } from './util.ts';

const USE: Record<string, BackendUse> = { TLSRoute: 'tls', TCPRoute: 'tcp', UDPRoute: 'udp' };

export function compileL4Route(ctx: Context, reg: BackendRegistry, state: RouteState): CompiledRoute {
  const cr = newCompiled(state);
  const spec = obj(state.obj.spec);
  if (state.kind === 'TLSRoute') cr.hostnames = routeHostnames(spec);
  const rules = objArr(spec.rules);
  const env = filterEnv(ctx, reg, cr, false);
  const dropped: { index: number; problem: RuleProblem }[] = [];
  rules.forEach((rule, ri) => {
    const backends = weightedBackends(ctx, reg, env, rule.backendRefs, USE[state.kind] ?? 'tcp', false, false);
    if (isProblem(backends)) {
      dropped.push({ index: ri, problem: backends });
      return;
    }
    const source = { kind: state.kind, namespace: state.namespace, name: state.name, rule: ri, ...(str(rule.name) ? { ruleName: str(rule.name)! } : {}) };
    cr.l4.push({ source, hostnames: [], backends: backends.some((b) => b.weight > 0) ? backends : [] });
  });
  if (rules.length === 0) {
    dropped.push({ index: 0, problem: { reason: 'UnsupportedValue', message: `${state.kind} has no rules.` } });
    finishRules(cr, 1, dropped);
  } else finishRules(cr, rules.length, dropped);
  return cr;
}
