// GatewayClass: Portico owns the classes whose controllerName is its own. Accepted unless the
// parametersRef points at something Portico cannot read (only core ConfigMaps are accepted,
// and their contents are not used yet) or the installed Gateway API CRDs are of another major
// version. SupportedVersion says whether the CRDs' bundle version is one Portico implements
// (v1.6.x); see bundleVerdict() and docs/design.md for what other versions get.
//
// Accepted=False/Unsupported ("the implementation does not support a user-defined
// GatewayClass") has no code path: Portico serves every GatewayClass naming its controller.
import type { Condition } from '../api/meta.ts';
import type { KubeObject } from '../api/meta.ts';
import { GatewayClassReason as GCR } from '../api/conditions.ts';
import { PORTICO_SUPPORTED_FEATURES } from '../api/features.ts';
import { BUNDLE_VERSION_ANNOTATION } from '../providers/snapshot.ts';
import type { Context } from './context.ts';
import { GatewayClassConditions as C } from './conditions.ts';
import { isObj, obj, str } from './util.ts';

export interface ClassResult {
  obj: KubeObject;
  accepted: boolean;
  status: Record<string, unknown>;
}

/** The bundle Portico implements: every v1.6 patch release (and its pre-releases). */
export const SUPPORTED_BUNDLE = { major: 1, minor: 6 } as const;
const SUPPORTED_TEXT = `v${SUPPORTED_BUNDLE.major}.${SUPPORTED_BUNDLE.minor}.x`;

export function translateGatewayClasses(ctx: Context): Map<string, ClassResult> {
  const out = new Map<string, ClassResult>();
  const verdict = bundleVerdict(ctx.snapshot.crdBundleVersions);
  for (const gc of ctx.list('GatewayClass')) {
    const spec = obj(gc.spec);
    if (str(spec.controllerName) !== ctx.controllerName) continue;
    const problem = parametersProblem(ctx, spec.parametersRef);
    // Another major version of the API is not served at all; that verdict comes first. Each
    // class gets its own copies: stamping sets their observedGeneration.
    const accepted = verdict.refuse ? { ...verdict.refuse } : problem ? C.invalidParameters(problem) : C.accepted();
    out.set(gc.metadata.name, {
      obj: gc,
      accepted: accepted.status === 'True',
      status: { conditions: [accepted, { ...verdict.supportedVersion }], supportedFeatures: PORTICO_SUPPORTED_FEATURES.map((name) => ({ name })) },
    });
  }
  return out;
}

/** The SupportedVersion condition, and the Accepted=False condition when the CRDs are refused. */
interface BundleVerdict {
  supportedVersion: Condition;
  refuse?: Condition;
}

type VersionClass = 'supported' | 'otherMinor' | 'otherMajor' | 'unrecognized';

/**
 * What Portico makes of the installed CRDs' bundle versions (gatewayclass_types.go: any CRD
 * without the annotation, or with a version not supported, makes SupportedVersion False):
 *   - v1.6.x (any patch, pre-releases included): SupportedVersion=True;
 *   - another v1 minor, a missing or unparseable annotation, or a development build
 *     (v0.0.0-dev): best effort, SupportedVersion=False/UnsupportedVersion, Accepted stays True
 *     (the v1 kinds Portico reads are served the same way; fields it does not know are ignored);
 *   - another major version: Accepted=False/UnsupportedVersion as well: the v1 API Portico
 *     reads is not that bundle's, so Portico does not program Gateways of the class.
 * No CRDs seen (plain manifests, or no permission to read CRDs): Portico assumes v1.6.
 */
export function bundleVerdict(versions: Readonly<Record<string, string>> | undefined): BundleVerdict {
  const entries = Object.entries(versions ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return { supportedVersion: C.supportedVersion() };
  const byVersion = new Map<string, string[]>();
  for (const [crd, version] of entries) byVersion.set(version, [...(byVersion.get(version) ?? []), crd]);
  const classes = new Map([...byVersion.keys()].map((v) => [v, classify(v)]));
  const bad = [...byVersion.keys()].filter((v) => classes.get(v) !== 'supported').sort();
  if (bad.length === 0) {
    const found = [...byVersion.keys()].sort().join(', ');
    return { supportedVersion: cond('SupportedVersion', 'True', GCR.SupportedVersion, `Gateway API CRD bundle version ${found} is supported (Portico supports ${SUPPORTED_TEXT}).`) };
  }
  const found = bad.map((v) => describe(v, byVersion.get(v)!)).join('; ');
  const fix = `install the Gateway API ${SUPPORTED_TEXT} CRDs (standard or experimental channel)`;
  if (bad.some((v) => classes.get(v) === 'otherMajor')) {
    const message = `Found ${found}; Portico supports ${SUPPORTED_TEXT} only and does not serve another major version: ${fix}.`;
    return {
      supportedVersion: cond('SupportedVersion', 'False', GCR.UnsupportedVersion, message),
      refuse: cond('Accepted', 'False', GCR.UnsupportedVersion, message),
    };
  }
  const message = `Found ${found}; Portico supports ${SUPPORTED_TEXT} and serves these on a best-effort basis: ${fix}.`;
  return { supportedVersion: cond('SupportedVersion', 'False', GCR.UnsupportedVersion, message) };
}

function classify(version: string): VersionClass {
  const m = /^v(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$/.exec(version);
  if (!m || version === 'v0.0.0-dev') return 'unrecognized';
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major !== SUPPORTED_BUNDLE.major) return 'otherMajor';
  return minor === SUPPORTED_BUNDLE.minor ? 'supported' : 'otherMinor';
}

/** "bundle version v1.5.1 on CRDs gateways.…, httproutes.… and 3 more", for a message. */
function describe(version: string, crds: string[]): string {
  const names = crds.length > 3 ? `${crds.slice(0, 3).join(', ')} and ${crds.length - 3} more` : crds.join(', ');
  const what = version === '' ? `no ${BUNDLE_VERSION_ANNOTATION} annotation` : `bundle version ${JSON.stringify(version)}`;
  return `${what} on CRD${crds.length > 1 ? 's' : ''} ${names}`;
}

function cond(type: string, status: 'True' | 'False', reason: string, message: string): Condition {
  return { type, status, reason, message, lastTransitionTime: '' };
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
