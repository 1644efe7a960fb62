// Small helpers for reading untrusted objects. Manifests may hold anything (wrong types,
// missing fields); every read goes through these so translate() never throws on bad input.

import { MAX_REGEX_LENGTH, regexError } from '../api/regex.ts';

export type Json = Record<string, unknown>;

export function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Json {
  return isObj(v) ? v : {};
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/**
 * Array of objects: non-object entries become {} so indexes keep matching the spec. Read only:
 * when every entry is an object, this is the input array itself (no copy per read).
 */
export function objArr(v: unknown): readonly Json[] {
  if (!Array.isArray(v)) return [];
  for (let i = 0; i < v.length; i++) if (!isObj(v[i])) return v.map(obj);
  return v as Json[];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

export function bool(v: unknown): boolean | undefined {
  return typeof v === 'boolean' ? v : undefined;
}

export function strArr(v: unknown): string[] {
  return arr(v).filter((x): x is string => typeof x === 'string');
}

export function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

/**
 * Deep equality of JSON-like data, key order included (a stricter test than needed, so that
 * "equal" objects are indistinguishable to every translate module). Lets the incremental
 * translator recognise an unchanged object that a provider handed over as a new instance.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i] || !sameJson((a as Json)[k], (b as Json)[k])) return false;
  }
  return true;
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** creationTimestamp as a sortable string; objects without one sort last (newest). */
export function createdAt(meta: unknown): string {
  const t = str(obj(meta).creationTimestamp);
  return t ?? '\uffff';
}

/** Older first, then namespace/name: the spec's tie-break for conflicts and precedence. */
export function cmpAge(a: { created: string; nsName: string }, b: { created: string; nsName: string }): number {
  return cmpStr(a.created, b.created) || cmpStr(a.nsName, b.nsName);
}

export function generation(meta: unknown): number | undefined {
  return int(obj(meta).generation);
}

/** Decodes base64 (Secret/ConfigMap binaryData) without throwing. */
export function b64(v: string): string {
  try {
    return Buffer.from(v, 'base64').toString('utf8');
  } catch {
    return '';
  }
}

/** Parses a GEP-2257 duration ("1h2m3s4ms") into milliseconds; undefined when malformed. */
export function durationMs(v: unknown): number | undefined {
  if (typeof v !== 'string' || !/^([0-9]{1,5}(h|ms|m|s)){1,4}$/.test(v)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const m of v.matchAll(/([0-9]{1,5})(h|ms|m|s)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

export function isIP(v: string): boolean {
  return isIPv4(v) || isIPv6(v);
}

export function isIPv4(v: string): boolean {
  const parts = v.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

export function isIPv6(v: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(v) || !v.includes(':')) return false;
  const dbl = v.split('::');
  if (dbl.length > 2) return false;
  const groups = v.replace('::', ':x:').split(':').filter((g) => g !== '');
  let count = 0;
  for (const g of groups) {
    if (g === 'x') continue;
    if (g.includes('.')) {
      if (!isIPv4(g)) return false;
      count += 2;
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) count += 1;
    else return false;
  }
  return dbl.length === 2 ? count < 8 : count === 8;
}

const RFC1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isHostname(v: string, allowWildcard = true): boolean {
  if (v.length === 0 || v.length > 253) return false;
  const rest = allowWildcard && v.startsWith('*.') ? v.slice(2) : v;
  return RFC1123_SUBDOMAIN.test(rest);
}

/**
 * Why a route author's regular expression is refused, for its status message; undefined when
 * RE2 accepts it. RE2 is the yardstick (src/api/regex.ts, the engine the data plane runs): route
 * authors must not be able to write patterns that run in super-linear time (lookaround,
 * backreferences), and a pattern accepted here must never silently match nothing in the data
 * plane (`/a\Z`, `/\cA` are JavaScript, not RE2; `(?i)/abc` is RE2, not JavaScript).
 */
export function regexProblem(v: string): string | undefined {
  const why = regexError(v);
  if (why === undefined) return undefined;
  if (v.length > MAX_REGEX_LENGTH) return `longer than the ${MAX_REGEX_LENGTH} characters allowed`;
  return `not valid RE2 syntax (${why.replace(/^error parsing regexp: /, '')}); Portico matches regular expressions with RE2 (linear time: no lookaround, no backreferences)`;
}
