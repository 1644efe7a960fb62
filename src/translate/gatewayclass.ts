// GatewayClass: Portico owns the classes whose controllerName is its own. Accepted unless the
// parametersRef points at something Portico cannot read (only core ConfigMaps are accepted,
// and their contents are not used yet). SupportedVersion is always True: Portico reads every
// served version of v1.6.
import type { KubeObject } from '../api/meta.ts';
import { PORTICO_SUPPORTED_FEATURES } from '../api/features.ts';
import type { Context } from './context.ts';
import { GatewayClassConditions as C } from './conditions.ts';
import { isObj, obj, str } from './util.ts';

export interface ClassResult {
  obj: KubeObject;
  accepted: boolean;
  status: Record<string, unknown>;
}

export function translateGatewayClasses(ctx: Context): Map<string, ClassResult> {
  const out = new Map<string, ClassResult>();
  for (const gc of ctx.list('GatewayClass')) {
    const spec = obj(gc.spec);
    if (str(spec.controllerName) !== ctx.controllerName) continue;
    const problem = parametersProblem(ctx, spec.parametersRef);
    const conditions = [problem ? C.invalidParameters(problem) : C.accepted(), C.supportedVersion()];
    out.set(gc.metadata.name, {
      obj: gc,
      accepted: !problem,
      status: { conditions, supportedFeatures: PORTICO_SUPPORTED_FEATURES.map((name) => ({ name })) },
    });
  }
  return out;
}

function parametersProblem(ctx: Context, ref: unknown): string | undefined {
  if (ref === undefined) return undefined;
  if (!isObj(ref)) return 'parametersRef is malformed.';
  const group = str(ref.group) ?? '';
  const kind = str(ref.kind) ?? '';
  const name = str(ref.name) ?? '';
  if (group !== '' || kind !== 'ConfigMap') return `parametersRef ${group}/${kind} ${name} is not supported; only core ConfigMap is.`;
  const ns = str(ref.namespace);
  if (!ns) return 'parametersRef to a ConfigMap must set namespace.';
  if (!ctx.get('ConfigMap', ns, name)) return `ConfigMap ${ns}/${name} not found.`;
  return undefined;
}
