// The reference side of the validation equivalence test: the upstream Gateway API CRDs
// (sigs.k8s.io/gateway-api, fetched with `go mod download` at test time, never committed),
// evaluated as the API server evaluates them on create, with a CEL library for the
// x-kubernetes-validations rules:
//   1. status is dropped (where there is a status subresource), unknown fields are errors (strict
//      field validation, kubectl's default);
//   2. nulls of non-nullable fields are dropped, then defaults are applied top-down;
//   3. the OpenAPI v3 value validations run (type, enum, pattern (RE2), format, lengths, ranges, items and
//      property counts, required, oneOf/anyOf/not, listType set/map uniqueness);
//   4. if none of those errors is "blocking" (enum, required, too long, too many, wrong type), the
//      CEL rules run on the defaulted object (transition rules, which need oldSelf, are skipped).
// Object metadata is checked by Portico's own checkMetadata (the API server's is built in, not
// part of the CRDs), so metadata is not what this equivalence proves.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isIP as netIsIP, isIPv4, isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RE2JS } from 're2js';
import YAML from 'yaml';
import { celEnv, celFunc, celMethod, CelScalar, isCelError, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { checkMetadata } from '../../src/api/validation/metadata.ts';

export const GATEWAY_API_MODULE = 'sigs.k8s.io/gateway-api@v1.6.3';

/** Finds the module directory with `go mod download`; a reason string when that is impossible. */
export function locateGatewayAPIModule(): { dir: string } | { skip: string } {
  // An empty directory, so no go.mod around changes what `go mod download` does.
  const cwd = mkdtempSync(join(tmpdir(), 'portico-crds-'));
  try {
    const out = execFileSync('go', ['mod', 'download', '-json', GATEWAY_API_MODULE], {
      cwd,
      env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '-mod=mod' },
      encoding: 'utf8',
      timeout: 180_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const info = JSON.parse(out) as { Dir?: string; Error?: string };
    if (!info.Dir) return { skip: `go mod download ${GATEWAY_API_MODULE} gave no directory${info.Error ? `: ${info.Error}` : ''}` };
    return { dir: info.Dir };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (err.code === 'ENOENT') return { skip: 'the Go toolchain (`go`) is not installed, so the upstream CRDs cannot be fetched' };
    let reason = err.stderr?.trim() || err.message;
    try {
      reason = (JSON.parse(err.stdout ?? '') as { Error?: string }).Error ?? reason; // -json reports errors on stdout
    } catch {
      // not JSON: keep stderr
    }
    return { skip: `go mod download ${GATEWAY_API_MODULE} failed: ${reason}` };
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

// ---- schema types (the subset of OpenAPI v3 the CRDs use) ----

export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  default?: unknown;
  nullable?: boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
  not?: Schema;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string; messageExpression?: string }[];
}

export interface RefError {
  path: string;
  message: string;
  /** set when a CEL rule evaluated to false (or failed): `${kind}|${schemaPath}|${rule}` */
  ruleId?: string;
  blocking?: boolean;
}

export interface CelRuleInfo {
  id: string;
  kind: string;
  version: string;
  schemaPath: string;
  rule: string;
  message: string;
  transition: boolean;
  underStatus: boolean;
}

// ---- CEL environment: the Kubernetes extension functions the CRDs use ----

/** Kubernetes CEL `isIP(string)`: a valid IPv4 or IPv6 address, without zone. */
const k8sIsIP = celFunc('isIP', [CelScalar.STRING], CelScalar.BOOL, (s: string) => !s.includes('%') && netIsIP(s) !== 0);
/** Kubernetes CEL `format.dns1123Label()`: a named format; `.validate(s)` gives null when valid. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const formatDns1123Label = celFunc('format.dns1123Label', [], CelScalar.STRING, () => 'dns1123Label');
const formatValidate = celMethod('validate', CelScalar.STRING, [CelScalar.STRING], CelScalar.DYN, function (this: string, s: string) {
  if (this !== 'dns1123Label') return ['unknown format'];
  return s.length <= 63 && DNS1123_LABEL.test(s) ? null : ['a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "-"'];
});
const ENV = celEnv({ funcs: [...strings, k8sIsIP, formatDns1123Label, formatValidate] });

/** Kubernetes escapes property names that are CEL keywords or contain symbols. */
const CEL_RESERVED = new Set(['as', 'break', 'const', 'continue', 'else', 'false', 'for', 'function', 'if', 'import', 'in', 'let', 'loop', 'package', 'namespace', 'null', 'return', 'true', 'var', 'void', 'while']);
function escapeProp(name: string): string {
  if (CEL_RESERVED.has(name)) return `__${name}__`;
  return name.replace(/__/g, '__underscores__').replace(/\./g, '__dot__').replace(/-/g, '__dash__').replace(/\//g, '__slash__');
}

/** Converts a (defaulted) JSON value to the CEL value the API server would bind, following the schema. */
function toCel(v: unknown, s: Schema | undefined): unknown {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => toCel(x, s?.items));
  if (typeof v === 'object') {
    const m = new Map<string, unknown>();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (s?.properties) m.set(escapeProp(k), toCel(x, s.properties[k]));
      else m.set(k, toCel(x, typeof s?.additionalProperties === 'object' ? s.additionalProperties : undefined));
    }
    return m;
  }
  if (typeof v === 'number' && s?.type === 'integer' && Number.isInteger(v)) return BigInt(v);
  return v;
}

interface CompiledRule {
  info: CelRuleInfo;
  run: ((bindings: Record<string, unknown>) => unknown) | undefined;
}

// ---- the validator of one CRD version ----

class VersionValidator {
  readonly rules = new Map<Schema, CompiledRule[]>();
  private readonly regexes = new Map<string, { test(s: string): boolean }>();
  readonly schema: Schema;
  readonly kind: string;
  readonly version: string;
  readonly namespaced: boolean;
  readonly statusSubresource: boolean;
  readonly allRules: CelRuleInfo[] = [];

  constructor(kind: string, version: string, namespaced: boolean, statusSubresource: boolean, schema: Schema) {
    this.statusSubresource = statusSubresource;
    this.kind = kind;
    this.version = version;
    this.namespaced = namespaced;
    this.schema = schema;
    this.compile(schema, '', false);
  }

  private compile(s: Schema, path: string, underStatus: boolean): void {
    const list: CompiledRule[] = [];
    for (const r of s['x-kubernetes-validations'] ?? []) {
      const transition = /\boldSelf\b/.test(r.rule);
      const info: CelRuleInfo = {
        id: `${this.kind}|${path}|${r.rule}`,
        kind: this.kind,
        version: this.version,
        schemaPath: path,
        rule: r.rule,
        message: r.message ?? r.messageExpression ?? `failed rule: ${r.rule}`,
        transition,
        underStatus,
      };
      this.allRules.push(info);
      list.push({ info, run: transition ? undefined : (plan(ENV, parse(r.rule)) as (b: Record<string, unknown>) => unknown) });
    }
    if (list.length) this.rules.set(s, list);
    for (const [k, c] of Object.entries(s.properties ?? {})) this.compile(c, `${path}.${k}`, underStatus || (path === '' && k === 'status'));
    if (s.items) this.compile(s.items, `${path}[]`, underStatus);
    if (typeof s.additionalProperties === 'object') this.compile(s.additionalProperties, `${path}{}`, underStatus);
  }

  /** Schema patterns are Go RE2 expressions, matched unanchored (regexp.MatchString): RE2 here too. */
  private regex(p: string): { test(s: string): boolean } {
    let re = this.regexes.get(p);
    if (!re) {
      const compiled = RE2JS.compile(p);
      re = { test: (s: string) => compiled.matcher(s).find() };
      this.regexes.set(p, re);
    }
    return re;
  }

  validate(input: Record<string, unknown>): RefError[] {
    const errs: RefError[] = [];
    const obj = structuredClone(input);
    // The status subresource makes the API server ignore status on create.
    if (this.statusSubresource) delete obj.status;
    checkMetadata(obj.metadata, this.namespaced, errs);
    const root = { ...this.schema, properties: { ...this.schema.properties } };
    delete root.properties.metadata;
    if (this.statusSubresource) delete root.properties.status;
    delete obj.metadata;
    const defaulted = this.defaultAndPrune(obj, root, '', errs) as Record<string, unknown>;
    this.validateValue(defaulted, root, '', errs);
    if (errs.some((e) => e.blocking)) {
      if (this.rules.size) {
        errs.push({ path: '', message: 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation' });
      }
    } else {
      this.runCel(defaulted, root, '', errs);
    }
    return errs;
  }

  /** Drops nulls, reports unknown fields, applies defaults (top-down, defaults themselves defaulted). */
  private defaultAndPrune(v: unknown, s: Schema, path: string, errs: RefError[]): unknown {
    if (Array.isArray(v)) return s.items ? v.map((x, i) => this.defaultAndPrune(x, s.items!, `${path}[${i}]`, errs)) : v;
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    if (s.properties) {
      for (const [k, x] of Object.entries(o)) {
        const child = s.properties[k];
        if (!child) {
          if (!s['x-kubernetes-preserve-unknown-fields']) errs.push({ path: join2(path, k), message: `unknown field "${k}"`, blocking: false });
          continue;
        }
        if (x === null && !child.nullable) continue;
        out[k] = x;
      }
      for (const [k, child] of Object.entries(s.properties)) {
        if (out[k] === undefined && child.default !== undefined) out[k] = structuredClone(child.default);
        if (out[k] !== undefined) out[k] = this.defaultAndPrune(out[k], child, join2(path, k), errs);
      }
      return out;
    }
    if (typeof s.additionalProperties === 'object') {
      for (const [k, x] of Object.entries(o)) {
        if (x === null && !s.additionalProperties.nullable) continue; // pruned like a null field
        out[k] = this.defaultAndPrune(x, s.additionalProperties, `${path}["${k}"]`, errs);
      }
      return out;
    }
    return o;
  }

  /** The OpenAPI value validations. Returns whether the value passed (for oneOf/anyOf/not). */
  private validateValue(v: unknown, s: Schema, path: string, errs: RefError[]): boolean {
    const before = errs.length;
    const bad = (message: string, blocking: boolean) => errs.push({ path, message, blocking });
    if (s.type) {
      const ok =
        s.type === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v)
        : s.type === 'array' ? Array.isArray(v)
        : s.type === 'string' ? typeof v === 'string'
        : s.type === 'integer' ? typeof v === 'number' && Number.isInteger(v)
        : s.type === 'number' ? typeof v === 'number'
        : s.type === 'boolean' ? typeof v === 'boolean'
        : true;
      if (!ok) {
        bad(`Invalid value: must be of type ${s.type}`, true);
        return false;
      }
    }
    if (s.enum && !s.enum.some((e) => e === v)) bad(`Unsupported value: ${JSON.stringify(v)}`, true);
    if (typeof v === 'string') {
      const n = [...v].length;
      if (s.maxLength !== undefined && n > s.maxLength) bad(`Too long: may not be more than ${s.maxLength} bytes`, true);
      if (s.minLength !== undefined && n < s.minLength) bad(`Invalid value: should be at least ${s.minLength} chars long`, false);
      if (s.pattern !== undefined && !this.regex(s.pattern).test(v)) bad(`Invalid value: should match '${s.pattern}'`, false);
      if (s.format === 'ipv4' && !isIPv4(v)) bad('Invalid value: must be of format ipv4', false);
      if (s.format === 'ipv6' && !(isIPv6(v) && !v.includes('%'))) bad('Invalid value: must be of format ipv6', false);
    }
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < s.minimum) bad(`Invalid value: should be greater than or equal to ${s.minimum}`, false);
      if (s.maximum !== undefined && v > s.maximum) bad(`Invalid value: should be less than or equal to ${s.maximum}`, false);
      if (s.format === 'int32' && (v < -2147483648 || v > 2147483647)) bad(`Invalid value: must be of type int32: ${v}`, false);
    }
    if (Array.isArray(v)) {
      if (s.maxItems !== undefined && v.length > s.maxItems) bad(`Too many: must have at most ${s.maxItems} items`, true);
      if (s.minItems !== undefined && v.length < s.minItems) bad(`Invalid value: should have at least ${s.minItems} items`, false);
      if (s.items) v.forEach((x, i) => this.validateValue(x, s.items!, `${path}[${i}]`, errs));
      const lt = s['x-kubernetes-list-type'];
      if (lt === 'set' || lt === 'map') {
        const keys = s['x-kubernetes-list-map-keys'];
        const seen = new Set<string>();
        v.forEach((x, i) => {
          const k = lt === 'set' ? JSON.stringify(x) : JSON.stringify((keys ?? []).map((kk) => (x as Record<string, unknown>)?.[kk]));
          if (seen.has(k)) errs.push({ path: `${path}[${i}]`, message: `Duplicate value: ${k}`, blocking: false });
          seen.add(k);
        });
      }
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      for (const r of s.required ?? []) if (o[r] === undefined) errs.push({ path: join2(path, r), message: 'Required value', blocking: true });
      if (s.maxProperties !== undefined && Object.keys(o).length > s.maxProperties) bad(`Too many: must have at most ${s.maxProperties} items`, true);
      for (const [k, x] of Object.entries(o)) {
        const child = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
        if (child) this.validateValue(x, child, s.properties ? join2(path, k) : `${path}["${k}"]`, errs);
      }
    }
    if (s.oneOf) {
      const results = s.oneOf.map((b) => this.validateValue(v, b, path, []));
      if (results.filter(Boolean).length !== 1) bad('Invalid value: must validate one and only one schema (oneOf)', false);
    }
    if (s.anyOf && !s.anyOf.some((b) => this.validateValue(v, b, path, []))) bad('Invalid value: must validate at least one schema (anyOf)', false);
    if (s.not && this.validateValue(v, s.not, path, [])) bad('Invalid value: must not validate the schema (not)', false);
    return errs.length === before;
  }

  private runCel(v: unknown, s: Schema, path: string, errs: RefError[]): void {
    if (v === undefined || v === null) return;
    const rules = this.rules.get(s);
    if (rules) {
      const self = toCel(v, s);
      for (const r of rules) {
        if (!r.run || r.info.underStatus) continue;
        const result = r.run({ self });
        if (isCelError(result)) errs.push({ path, message: `${r.info.message} (rule failed to evaluate: ${(result as Error).message})`, ruleId: r.info.id });
        else if (result !== true) errs.push({ path, message: r.info.message, ruleId: r.info.id });
      }
    }
    if (Array.isArray(v)) {
      if (s.items) v.forEach((x, i) => this.runCel(x, s.items!, `${path}[${i}]`, errs));
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (s.properties?.[k]) this.runCel(x, s.properties[k], join2(path, k), errs);
        else if (typeof s.additionalProperties === 'object') this.runCel(x, s.additionalProperties, `${path}["${k}"]`, errs);
      }
    }
  }
}

const join2 = (path: string, k: string) => (path === '' ? k : `${path}.${k}`);

/** The CRDs of the experimental channel, ready to validate objects. */
export class CRDValidator {
  private readonly byGVK = new Map<string, VersionValidator>();

  constructor(moduleDir: string) {
    const dir = join(moduleDir, 'config', 'crd', 'experimental');
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.yaml') || f.includes('vap') || f === 'kustomization.yaml') continue;
      const crd = YAML.parse(readFileSync(join(dir, f), 'utf8'));
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const group = crd.spec.group as string;
      const kind = crd.spec.names.kind as string;
      for (const v of crd.spec.versions as { name: string; served: boolean; subresources?: { status?: object }; schema: { openAPIV3Schema: Schema } }[]) {
        if (!v.served) continue;
        const namespaced = crd.spec.scope === 'Namespaced';
        this.byGVK.set(`${group}/${v.name} ${kind}`, new VersionValidator(kind, v.name, namespaced, v.subresources?.status !== undefined, v.schema.openAPIV3Schema));
      }
    }
  }

  /** Whether the CRDs define this apiVersion and kind. */
  has(apiVersion: string, kind: string): boolean {
    return this.byGVK.has(`${apiVersion} ${kind}`);
  }

  validate(obj: Record<string, unknown>): RefError[] {
    const v = this.byGVK.get(`${obj.apiVersion} ${obj.kind}`);
    return v ? v.validate(obj) : [];
  }

  /** The openAPIV3Schema of `spec` of a served apiVersion and kind. */
  specSchema(apiVersion: string, kind: string): Schema | undefined {
    return this.byGVK.get(`${apiVersion} ${kind}`)?.schema.properties?.spec;
  }

  /** Every served apiVersion and kind. */
  served(): { apiVersion: string; kind: string }[] {
    return [...this.byGVK.keys()].map((k) => {
      const [apiVersion, kind] = k.split(' ');
      return { apiVersion, kind };
    });
  }

  /** Every CEL rule of every served version. */
  rules(): CelRuleInfo[] {
    return [...this.byGVK.values()].flatMap((v) => v.allRules);
  }
}
