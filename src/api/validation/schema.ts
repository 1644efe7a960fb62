// A small, hand-written structural schema: the node types the Gateway API CRDs use, and the walker
// that checks a raw JSON value against them the way the API server does on create:
//   - a null value counts as absent (the API server drops nulls of non-nullable fields);
//   - an absent field with a default takes the default before anything else is checked, and the
//     rules (the CRDs' CEL rules, re-expressed in TypeScript) see the defaulted object;
//   - unknown fields are errors (kubectl's default, server-side "Strict" field validation);
//   - every rule runs even when a sibling schema check failed, as the API server does.
// Nodes are built once at module load; checking allocates only the error entries and, when
// a default fills an absent field, a shallow copy of the object or list that holds it.

export interface FieldError {
  path: string;
  message: string;
}

/** A CEL rule of the CRD, expressed in TypeScript. `test` gets the defaulted value of its node. */
export interface Rule {
  test: (self: any) => boolean;
  message: string;
}

/** A named pattern: the regular expression and the words used in the error message. */
export interface Pattern {
  re: RegExp;
  says: string;
}

interface Common {
  rules?: Rule[];
  /** Default applied when the field is absent (already complete: defaults are not walked). */
  def?: unknown;
}

export interface StrNode extends Common {
  t: 'string';
  min?: number;
  max?: number;
  pattern?: Pattern;
  enum?: readonly string[];
  /** extra value check returning an error message (used for the `ipv4`/`ipv6` formats) */
  check?: (s: string) => string | undefined;
}
export interface IntNode extends Common {
  t: 'integer';
  min?: number;
  max?: number;
  enum?: readonly number[];
}
export interface BoolNode extends Common {
  t: 'boolean';
}
export interface ObjNode extends Common {
  t: 'object';
  props: Record<string, Node>;
  required?: readonly string[];
}
export interface ListNode extends Common {
  t: 'array';
  items: Node;
  min?: number;
  max?: number;
  /** x-kubernetes-list-type: set (items unique) or map (keys unique) */
  set?: boolean;
  mapKeys?: readonly string[];
}
/** An object with free-form keys (additionalProperties). */
export interface MapNode extends Common {
  t: 'map';
  values: Node;
  maxProps?: number;
}
export type Node = StrNode | IntNode | BoolNode | ObjNode | ListNode | MapNode;

// ---- constructors: short to read in the per-kind files ----

type Opts<N> = Omit<N, 't'>;
export const str = (o: Opts<StrNode> = {}): StrNode => ({ t: 'string', ...o });
export const int = (o: Opts<IntNode> = {}): IntNode => ({ t: 'integer', ...o });
export const bool = (o: Opts<BoolNode> = {}): BoolNode => ({ t: 'boolean', ...o });
export const obj = (props: Record<string, Node>, o: Omit<Opts<ObjNode>, 'props'> = {}): ObjNode => ({
  t: 'object',
  props,
  ...o,
});
export const list = (items: Node, o: Omit<Opts<ListNode>, 'items'> = {}): ListNode => ({ t: 'array', items, ...o });
export const map = (values: Node, o: Omit<Opts<MapNode>, 'values'> = {}): MapNode => ({ t: 'map', values, ...o });
export const rule = (message: string, test: (self: any) => boolean): Rule => ({ message, test });
/** Same node with a default value. */
export const withDefault = <N extends Node>(n: N, def: unknown): N => ({ ...n, def });
/** Same node with extra rules. */
export const withRules = <N extends Node>(n: N, ...rules: Rule[]): N => ({ ...n, rules: [...(n.rules ?? []), ...rules] });

// ---- the walker ----

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

const quote = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * Checks `value` (never null/undefined here) against `node`, appends errors, and returns the
 * defaulted value (the same reference when nothing was defaulted).
 */
export function check(node: Node, value: unknown, path: string, errs: FieldError[]): unknown {
  let out: unknown = value;
  switch (node.t) {
    case 'string':
      if (typeof value !== 'string') {
        errs.push({ path, message: `must be a string, got ${typeName(value)}` });
        return value;
      }
      checkString(node, value, path, errs);
      break;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        errs.push({ path, message: `must be an integer, got ${quote(value)}` });
        return value;
      }
      if (node.enum && !node.enum.includes(value)) {
        errs.push({ path, message: `unsupported value ${value}: must be one of ${node.enum.join(', ')}` });
      }
      if (node.min !== undefined && value < node.min) errs.push({ path, message: `must be greater than or equal to ${node.min}` });
      if (node.max !== undefined && value > node.max) errs.push({ path, message: `must be less than or equal to ${node.max}` });
      break;
    case 'boolean':
      if (typeof value !== 'boolean') {
        errs.push({ path, message: `must be a boolean, got ${quote(value)}` });
        return value;
      }
      break;
    case 'object':
      if (!isObject(value)) {
        errs.push({ path, message: `must be an object, got ${typeName(value)}` });
        return value;
      }
      out = checkObject(node, value, path, errs);
      break;
    case 'array':
      if (!Array.isArray(value)) {
        errs.push({ path, message: `must be a list, got ${typeName(value)}` });
        return value;
      }
      out = checkList(node, value, path, errs);
      break;
    case 'map':
      if (!isObject(value)) {
        errs.push({ path, message: `must be an object, got ${typeName(value)}` });
        return value;
      }
      out = checkMap(node, value, path, errs);
      break;
  }
  if (node.rules) runRules(node.rules, out, path, errs);
  return out;
}

function checkString(node: StrNode, s: string, path: string, errs: FieldError[]): void {
  if (node.enum) {
    if (!node.enum.includes(s)) {
      errs.push({ path, message: `unsupported value ${quote(s)}: must be one of ${node.enum.map(quote).join(', ')}` });
    }
  }
  // Lengths count characters (code points), like the API server.
  if (node.min !== undefined || node.max !== undefined) {
    const n = s.length < 64 && !/[\ud800-\udfff]/.test(s) ? s.length : [...s].length;
    if (node.min !== undefined && n < node.min) {
      errs.push({ path, message: node.min === 1 ? 'must not be empty' : `must be at least ${node.min} characters long` });
    }
    if (node.max !== undefined && n > node.max) errs.push({ path, message: `must be at most ${node.max} characters long` });
  }
  if (node.pattern && !node.pattern.re.test(s)) errs.push({ path, message: `invalid value ${quote(s)}: ${node.pattern.says}` });
  if (node.check) {
    const m = node.check(s);
    if (m) errs.push({ path, message: m });
  }
}

function checkObject(node: ObjNode, o: Record<string, unknown>, path: string, errs: FieldError[]): Record<string, unknown> {
  let out = o;
  const prefix = path === '' ? '' : path + '.';
  for (const key in o) {
    if (!(key in node.props)) errs.push({ path: prefix + key, message: `unknown field ${quote(key)}` });
  }
  for (const key in node.props) {
    const child = node.props[key];
    const v = o[key];
    if (v === undefined || v === null) {
      if (child.def !== undefined) {
        if (out === o) out = { ...o };
        out[key] = child.def;
      } else if (node.required?.includes(key)) {
        errs.push({ path: prefix + key, message: 'required field is missing' });
      } else if (v === null && out === o) {
        // a null optional field is dropped, so rules see it absent
        out = { ...o };
        delete out[key];
      } else if (v === null) {
        delete out[key];
      }
      continue;
    }
    const eff = check(child, v, prefix + key, errs);
    if (eff !== v) {
      if (out === o) out = { ...o };
      out[key] = eff;
    }
  }
  return out;
}

function checkList(node: ListNode, a: unknown[], path: string, errs: FieldError[]): unknown[] {
  if (node.min !== undefined && a.length < node.min) {
    errs.push({ path, message: node.min === 1 ? 'must have at least 1 item' : `must have at least ${node.min} items` });
  }
  if (node.max !== undefined && a.length > node.max) {
    errs.push({ path, message: `must have at most ${node.max} items, has ${a.length}` });
  }
  let out = a;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const eff = check(node.items, v, `${path}[${i}]`, errs);
    if (eff !== v) {
      if (out === a) out = a.slice();
      out[i] = eff;
    }
  }
  if (node.set) checkUnique(out, (v) => quote(v), path, errs);
  if (node.mapKeys) {
    const keys = node.mapKeys;
    checkUnique(out, (v) => (isObject(v) ? keys.map((k) => `${k}=${quote(v[k])}`).join(', ') : undefined), path, errs);
  }
  return out;
}

function checkUnique(a: unknown[], keyOf: (v: unknown) => string | undefined, path: string, errs: FieldError[]): void {
  if (a.length < 2) return;
  const seen = new Set<string>();
  for (let i = 0; i < a.length; i++) {
    const k = keyOf(a[i]);
    if (k === undefined) continue;
    if (seen.has(k)) errs.push({ path: `${path}[${i}]`, message: `duplicate entry: ${k} is already in the list` });
    else seen.add(k);
  }
}

function checkMap(node: MapNode, m: Record<string, unknown>, path: string, errs: FieldError[]): Record<string, unknown> {
  let out = m;
  let n = 0;
  for (const key in m) {
    const v = m[key];
    if (v === null || v === undefined) {
      // dropped by the API server, like a null field
      if (out === m) out = { ...m };
      delete out[key];
      continue;
    }
    n++;
    check(node.values, v, `${path}[${quote(key)}]`, errs);
  }
  if (node.maxProps !== undefined && n > node.maxProps) {
    errs.push({ path, message: `must have at most ${node.maxProps} entries, has ${n}` });
  }
  return out;
}

function runRules(rules: Rule[], self: unknown, path: string, errs: FieldError[]): void {
  for (const r of rules) {
    let ok: boolean;
    try {
      ok = r.test(self);
    } catch {
      // A rule that cannot be evaluated (a value of the wrong type deeper down) fails, as a
      // CEL evaluation error does in the API server.
      ok = false;
    }
    if (!ok) errs.push({ path, message: r.message });
  }
}
