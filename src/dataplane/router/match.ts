// One IRMatch compiled into a flat test: path kind + literal, then method, headers, query params.
// Query strings are parsed only when some match of the virtual host needs them (RequestView.query).
import type { IRMatch, IRValueMatch } from '../../ir/types.ts';
import { compileRegex, type Matcher } from './regex.ts';

/** What the matchers read from a request. Built once per request by the handler. */
export interface RequestView {
  method: string;
  path: string;
  /** Raw query string without "?" ('' when absent). */
  rawQuery: string;
  headers: Record<string, string | string[] | undefined>;
  /** Lazily parsed query params (first value per name). */
  query?: Map<string, string>;
}

const PATH_EXACT = 0;
const PATH_PREFIX = 1;
const PATH_REGEX = 2;

interface ValueTest {
  name: string;
  exact?: string;
  re?: Matcher;
}

export interface CompiledMatch {
  pathKind: number;
  /** Exact value, or the prefix without trailing slash ('' for "/"). */
  pathValue: string;
  pathRe?: Matcher;
  method?: string;
  headers: ValueTest[];
  queryParams: ValueTest[];
}

export function compileMatch(m: IRMatch): CompiledMatch {
  const out: CompiledMatch = {
    pathKind: PATH_PREFIX,
    pathValue: '',
    method: m.method,
    headers: m.headers.map((h) => compileValue({ ...h, name: h.name.toLowerCase() })),
    queryParams: m.queryParams.map(compileValue),
  };
  const p = m.path;
  if (p.type === 'Exact') {
    out.pathKind = PATH_EXACT;
    out.pathValue = p.value;
  } else if (p.type === 'PathPrefix') {
    out.pathValue = p.value.endsWith('/') ? p.value.slice(0, -1) : p.value;
  } else {
    out.pathKind = PATH_REGEX;
    out.pathRe = compileRegex(p.value);
  }
  return out;
}

function compileValue(v: IRValueMatch): ValueTest {
  return v.type === 'Exact' ? { name: v.name, exact: v.value } : { name: v.name, re: compileRegex(v.value) };
}

/** Whole-segment prefix test: "/foo" matches "/foo", "/foo/", "/foo/bar", never "/foobar". */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; /* / */
}

export function matches(m: CompiledMatch, r: RequestView): boolean {
  switch (m.pathKind) {
    case PATH_EXACT:
      if (r.path !== m.pathValue) return false;
      break;
    case PATH_PREFIX:
      if (!prefixMatches(m.pathValue, r.path)) return false;
      break;
    default:
      if (!m.pathRe!.test(r.path)) return false;
  }
  if (m.method !== undefined && m.method !== r.method) return false;
  for (let i = 0; i < m.headers.length; i++) {
    const t = m.headers[i];
    const raw = r.headers[t.name];
    if (raw === undefined) return false;
    const v = typeof raw === 'string' ? raw : raw.join(',');
    if (t.exact !== undefined ? v !== t.exact : !t.re!.test(v)) return false;
  }
  if (m.queryParams.length > 0) {
    const q = r.query ?? (r.query = parseQuery(r.rawQuery));
    for (let i = 0; i < m.queryParams.length; i++) {
      const t = m.queryParams[i];
      const v = q.get(t.name);
      if (v === undefined) return false;
      if (t.exact !== undefined ? v !== t.exact : !t.re!.test(v)) return false;
    }
  }
  return true;
}

function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const [k, v] of new URLSearchParams(raw)) if (!out.has(k)) out.set(k, v);
  return out;
}
