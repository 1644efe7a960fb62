// Building blocks shared by the kinds: the value types of apis/v1/shared_types.go and
// object_reference_types.go (Group, Kind, ObjectName, Hostname, ParentReference, BackendRef,
// header names, durations, session persistence), each with its CRD constraints and CEL rules.

import type { Node, Pattern, Rule } from './schema.ts';
import { int, list, map, obj, rule, str, withDefault } from './schema.ts';

const DNS1123_SUBDOMAIN = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';

export const P = {
  group: { re: new RegExp(`^$|^${DNS1123_SUBDOMAIN}$`), says: 'must be empty or a lowercase DNS subdomain (RFC 1123), e.g. "gateway.networking.k8s.io"' },
  kind: { re: /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/, says: 'must start with a letter and contain only letters, digits and "-", e.g. "Service"' },
  namespace: { re: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, says: 'must be a lowercase DNS label (RFC 1123): a-z, 0-9 and "-"' },
  sectionName: { re: new RegExp(`^${DNS1123_SUBDOMAIN}$`), says: 'must be a lowercase DNS subdomain (RFC 1123): a-z, 0-9, "-" and "."' },
  hostname: { re: new RegExp(`^(\\*\\.)?${DNS1123_SUBDOMAIN}$`), says: 'must be a lowercase hostname (RFC 1123), optionally starting with the wildcard label "*."' },
  preciseHostname: { re: new RegExp(`^${DNS1123_SUBDOMAIN}$`), says: 'must be a lowercase hostname (RFC 1123) without wildcard' },
  headerName: { re: /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, says: 'must be a valid HTTP header name (RFC 7230 token characters only)' },
  headerValue: { re: /^[!-~]+([\t ]?[!-~]+)*$/, says: 'must be printable ASCII, without leading or trailing whitespace or runs of spaces' },
  duration: { re: /^([0-9]{1,5}(h|m|s|ms)){1,4}$/, says: 'must be a Gateway API duration such as "10s", "500ms" or "1h30m" (up to 4 parts of 1-5 digits with h, m, s or ms)' },
  controllerName: {
    re: new RegExp(`^${DNS1123_SUBDOMAIN}\\/[A-Za-z0-9\\/\\-._~%!$&'()*+,;=:]+$`),
    says: 'must be a domain-prefixed path, e.g. "example.com/gateway-controller"',
  },
  absPath: { re: /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$/, says: 'must contain only valid URL path characters (RFC 3986) or %-escapes' },
  labelValue: { re: /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, says: 'must be empty or start and end with a letter or digit, with only letters, digits, "-", "_" and "." between' },
  wellKnownCA: {
    re: new RegExp(`^(System|(${DNS1123_SUBDOMAIN}/([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]))$`),
    says: 'must be "System" or a domain-prefixed name',
  },
  sanURI: { re: /^(([^:/?#]+):)(\/\/([^/?#]*))([^?#]*)(\?([^#]*))?(#(.*))?/, says: 'must be an absolute URI with a scheme and an authority, e.g. "spiffe://cluster.local/ns/default/sa/app"' },
} satisfies Record<string, Pattern>;

// ---- scalar types ----

/** Largest value of an int32 field (the CRDs' `format: int32`). */
export const INT32_MAX = 2147483647;

export const Group = str({ max: 253, pattern: P.group });
export const Kind = str({ min: 1, max: 63, pattern: P.kind });
export const ObjectName = str({ min: 1, max: 253 });
export const Namespace = str({ min: 1, max: 63, pattern: P.namespace });
export const SectionName = str({ min: 1, max: 253, pattern: P.sectionName });
export const PortNumber = int({ min: 1, max: 65535 });
export const Hostname = str({ min: 1, max: 253, pattern: P.hostname });
export const PreciseHostname = str({ min: 1, max: 253, pattern: P.preciseHostname });
export const Duration = str({ pattern: P.duration });
export const HeaderName = str({ min: 1, max: 256, pattern: P.headerName });
export const ControllerName = str({ min: 1, max: 253, pattern: P.controllerName });
export const RouteHostnames = list(Hostname, { max: 16 });

// ---- helpers for rules ----

/** CEL `has(x.f) && x.f != ''` / `!has(x.f) || x.f == ''` read as one predicate. */
export const empty = (v: unknown): boolean => v === undefined || v === null || v === '';
export const size = (v: unknown): number => (Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0);
export const has = (o: any, f: string): boolean => o !== null && typeof o === 'object' && o[f] !== undefined && o[f] !== null;
/** CEL `exists_one`: exactly one element satisfies the predicate. */
export function existsOne<T>(a: readonly T[], pred: (x: T) => boolean): boolean {
  let n = 0;
  for (const x of a) if (pred(x) && ++n > 1) return false;
  return n === 1;
}
export const count = <T>(a: readonly T[], pred: (x: T) => boolean): number => a.reduce((n, x) => (pred(x) ? n + 1 : n), 0);

/**
 * Milliseconds of a Gateway API duration ("1h30m", "500ms"). Throws on anything else, so a rule
 * comparing durations fails, as the CEL rule does when duration() cannot parse its argument.
 */
export function durationMs(s: string): number {
  if (typeof s !== 'string' || !P.duration.re.test(s)) throw new Error(`not a duration: ${s}`);
  let ms = 0;
  for (const m of s.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    ms += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
  }
  return ms;
}

// ---- references ----

/** ParentReference: the Gateway (or ListenerSet, Service) a route attaches to. */
export const ParentRef = obj(
  {
    group: withDefault(Group, 'gateway.networking.k8s.io'),
    kind: withDefault(Kind, 'Gateway'),
    namespace: Namespace,
    name: ObjectName,
    sectionName: SectionName,
    port: PortNumber,
  },
  { required: ['name'] },
);

const sameParent = (a: any, b: any): boolean =>
  a.group === b.group && a.kind === b.kind && a.name === b.name && (empty(a.namespace) ? empty(b.namespace) : !empty(b.namespace) && a.namespace === b.namespace);
const noPort = (p: any): boolean => p.port === undefined || p.port === 0;

/** parentRefs of every route kind, with the two CEL rules about repeated parents. */
export const ParentRefs = list(ParentRef, {
  max: 32,
  rules: [
    rule('sectionName or port must be specified when parentRefs includes 2 or more references to the same parent', (refs: any[]) =>
      refs.every((p1) => refs.every((p2) => !sameParent(p1, p2) || (empty(p1.sectionName) === empty(p2.sectionName) && noPort(p1) === noPort(p2)))),
    ),
    rule('sectionName or port must be unique when parentRefs includes 2 or more references to the same parent', (refs: any[]) =>
      refs.every((p1) =>
        existsOne(
          refs,
          (p2) =>
            sameParent(p1, p2) &&
            (empty(p1.sectionName) ? empty(p2.sectionName) : !empty(p2.sectionName) && p1.sectionName === p2.sectionName) &&
            (noPort(p1) ? noPort(p2) : !noPort(p2) && p1.port === p2.port),
        ),
      ),
    ),
  ],
});

/** BackendObjectReference rule: a Service needs a port. */
export const servicePortRule: Rule = rule('Must have port for Service reference', (b: any) => !(b.group === '' && b.kind === 'Service') || has(b, 'port'));

/** BackendObjectReference (group "" and kind Service by default). */
export const BackendObjectRef = obj(
  { group: withDefault(Group, ''), kind: withDefault(Kind, 'Service'), name: ObjectName, namespace: Namespace, port: PortNumber },
  { required: ['name'], rules: [servicePortRule] },
);

/** BackendRef: a BackendObjectReference with a weight (extra props for route-specific fields). */
export function backendRef(extra: Record<string, Node> = {}) {
  return obj(
    {
      ...BackendObjectRef.props,
      weight: withDefault(int({ min: 0, max: 1_000_000 }), 1),
      ...extra,
    },
    { required: ['name'], rules: [servicePortRule] },
  );
}

/** SecretObjectReference (kind Secret by default). */
export const SecretRef = obj(
  { group: withDefault(Group, ''), kind: withDefault(Kind, 'Secret'), name: ObjectName, namespace: Namespace },
  { required: ['name'] },
);

/** LocalObjectReference: group, kind and name all required. */
export const LocalObjectRef = obj({ group: Group, kind: Kind, name: ObjectName }, { required: ['group', 'kind', 'name'] });

/** ParametersReference of GatewayClass/XMesh. */
export const ParametersRef = obj({ group: Group, kind: Kind, name: ObjectName, namespace: Namespace }, { required: ['group', 'kind', 'name'] });

/** LabelSelector (metav1), as the CRDs describe it. */
export const LabelSelector = obj({
  matchExpressions: list(
    obj({ key: str(), operator: str(), values: list(str()) }, { required: ['key', 'operator'] }),
  ),
  matchLabels: map(str()),
});

// ---- HTTP header modifiers (HTTPRoute and GRPCRoute filters) ----

export function headerModifier(value: Node) {
  const header = obj({ name: HeaderName, value }, { required: ['name', 'value'] });
  return obj({
    add: list(header, { max: 16, mapKeys: ['name'] }),
    set: list(header, { max: 16, mapKeys: ['name'] }),
    remove: list(str(), { max: 16, set: true }),
  });
}

// ---- request mirror (HTTPRoute and GRPCRoute filters) ----

export const RequestMirror = obj(
  {
    backendRef: BackendObjectRef,
    percent: int({ min: 0, max: 100 }),
    fraction: obj(
      { numerator: int({ min: 0, max: INT32_MAX }), denominator: withDefault(int({ min: 1, max: INT32_MAX }), 100) },
      {
        required: ['numerator'],
        rules: [rule('numerator must be less than or equal to denominator', (f: any) => f.numerator <= f.denominator)],
      },
    ),
  },
  {
    required: ['backendRef'],
    rules: [rule('Only one of percent or fraction may be specified in HTTPRequestMirrorFilter', (m: any) => !(has(m, 'percent') && has(m, 'fraction')))],
  },
);

// ---- filter unions ----

/**
 * The union rules of a filter: for each member, "filter.<field> must be nil if the filter.type is
 * not <Type>" and "filter.<field> must be specified for <Type> filter.type".
 */
export function unionRules(members: Record<string, string>): Rule[] {
  const rules: Rule[] = [];
  for (const [type, field] of Object.entries(members)) {
    rules.push(rule(`filter.${field} must be nil if the filter.type is not ${type}`, (f: any) => !(has(f, field) && f.type !== type)));
    rules.push(rule(`filter.${field} must be specified for ${type} filter.type`, (f: any) => !(!has(f, field) && f.type === type)));
  }
  return rules;
}

/** "<Type> filter cannot be repeated" for each listed type. */
export function noRepeatRules(types: readonly string[]): Rule[] {
  return types.map((t) => rule(`${t} filter cannot be repeated`, (fs: any[]) => count(fs, (f) => f?.type === t) <= 1));
}

// ---- session persistence (HTTPRoute, GRPCRoute, XBackendTrafficPolicy) ----

export const SessionPersistence = obj(
  {
    sessionName: str({ max: 128 }),
    absoluteTimeout: Duration,
    type: withDefault(str({ enum: ['Cookie', 'Header'] }), 'Cookie'),
    cookieConfig: obj({ lifetimeType: withDefault(str({ enum: ['Permanent', 'Session'] }), 'Session') }),
  },
  {
    rules: [
      rule(
        'AbsoluteTimeout must be specified when cookie lifetimeType is Permanent',
        (s: any) => !has(s, 'cookieConfig') || !has(s.cookieConfig, 'lifetimeType') || s.cookieConfig.lifetimeType !== 'Permanent' || has(s, 'absoluteTimeout'),
      ),
      rule('cookieConfig can only be set with type Cookie', (s: any) => !has(s, 'cookieConfig') || s.type === 'Cookie'),
    ],
  },
);

/** The rule name uniqueness rule on `rules` of route kinds. */
export const uniqueRuleNames: Rule = rule('Rule name must be unique within the route', (rs: any[]) =>
  rs.every((r1) => !has(r1, 'name') || existsOne(rs, (r2) => has(r2, 'name') && r1.name === r2.name)),
);

/** `useDefaultGateways` of the route kinds. */
export const UseDefaultGateways = str({ enum: ['All', 'None'] });
