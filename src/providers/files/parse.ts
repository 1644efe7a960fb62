// Parsing of one manifest file: YAML or JSON, any number of documents, `kind: List` (and any
// `*List` kind with `items`) flattened. Never throws: problems come back as `file:line` diagnostics.
//
// Two parsers. The `yaml` package keeps every node's position (file:line of each List item and of
// every error) but is slow: 40,000 routes took 14 s of CPU. So a file is first parsed with js-yaml
// (several times faster), document by document, with scalars resolved exactly as the `yaml`
// package's YAML 1.2 core schema does; the slow path runs whenever the fast one cannot give the
// same answer: a syntax error (for its line), anchors, directives, a List (for item lines).
import jsYaml from 'js-yaml';
import { isMap, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Node } from 'yaml';
import type { KubeObject } from '../../api/meta.ts';
import type { ProviderDiagnostic } from '../snapshot.ts';

export interface ParsedObject {
  object: KubeObject;
  /** "file:line" of the document or list item the object came from. */
  where: string;
}

export interface ParsedFile {
  objects: ParsedObject[];
  /** Syntax errors: when any is present the file as a whole is considered unparseable. */
  errors: ProviderDiagnostic[];
  /** Documents that parsed but are not objects Portico can read (no kind, no name). */
  warnings: ProviderDiagnostic[];
}

export function parseManifest(file: string, text: string): ParsedFile {
  return parseFast(file, text) ?? parseManifestSlow(file, text);
}

// Scalars as the `yaml` package resolves them with its default (YAML 1.2 core) schema.
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT = /^[-+]?[0-9]+$/;
const OCT = /^0o[0-7]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const SPECIAL_FLOAT = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const EXP_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

const CORE_SCHEMA = jsYaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    new jsYaml.Type('tag:yaml.org,2002:null', { kind: 'scalar', resolve: (s: string) => NULL.test(s), construct: () => null }),
    new jsYaml.Type('tag:yaml.org,2002:bool', { kind: 'scalar', resolve: (s: string) => BOOL.test(s), construct: (s: string) => s[0] === 't' || s[0] === 'T' }),
    new jsYaml.Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (s: string) => INT.test(s) || OCT.test(s) || HEX.test(s),
      construct: (s: string) => (OCT.test(s) ? parseInt(s.slice(2), 8) : HEX.test(s) ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
    }),
    new jsYaml.Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (s: string) => SPECIAL_FLOAT.test(s) || EXP_FLOAT.test(s) || FLOAT.test(s),
      construct: (s: string) => (SPECIAL_FLOAT.test(s) ? (s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity) : parseFloat(s)),
    }),
  ],
});

/** Anchors and directives are left to the slow path (alias limits, YAML versions). */
const SLOW_ONLY = /(?:^|[\s[{,])&\S|^%/m;

/**
 * The fast parse, or undefined when the slow one must answer (any error, anchor, directive or
 * List). Documents are split at `---` / `...` lines (at column 0 they end any scalar too). The
 * text is scanned line by line without splitting it (at 40,000 routes, splitting and joining
 * again made a million short-lived strings).
 */
function parseFast(file: string, text: string): ParsedFile | undefined {
  if (SLOW_ONLY.test(text)) return undefined;
  const result: ParsedFile = { objects: [], errors: [], warnings: [] };
  // The current document: from offset `start`, whose line (0-based) is `startLine`.
  let start = 0;
  let startLine = 0;
  let line = 0;
  for (let at = 0; at <= text.length; line++) {
    const nl = text.indexOf('\n', at);
    const end = nl === -1 ? text.length : nl;
    const marker = end - at >= 3 ? separator(text, at, end) : 0;
    if (marker !== 0) {
      // The document so far ends before this line (without the line break before it).
      if (!addDocument(text.slice(start, Math.max(start, at - 1)), at > start, startLine, file, result)) return undefined;
      if (marker === 1) {
        start = at; // "--- value" starts the document on this line
        startLine = line;
      } else {
        start = nl === -1 ? text.length : nl + 1;
        startLine = line + 1;
      }
    }
    if (nl === -1) break;
    at = nl + 1;
  }
  if (!addDocument(text.slice(start), start < text.length, startLine, file, result)) return undefined;
  return result;
}

/** 1 when the line [at, end) is a `---` line, 2 for `...`, else 0. */
function separator(text: string, at: number, end: number): number {
  const c = text.charCodeAt(at);
  if (c !== 45 && c !== 46) return 0; // '-' '.'
  if (text.charCodeAt(at + 1) !== c || text.charCodeAt(at + 2) !== c) return 0;
  if (end > at + 3) {
    const next = text.charCodeAt(at + 3);
    if (next !== 32 && next !== 9 && next !== 13) return 0; // ' ' '\t' '\r'
  }
  return c === 45 ? 1 : 2;
}

/**
 * Parses one document (its first line may be its `---` line); `lines`: whether it has any line
 * at all. False when the slow path must answer.
 */
function addDocument(doc: string, lines: boolean, firstLine: number, file: string, out: ParsedFile): boolean {
  if (!lines) return true;
  // The first line that is neither blank nor a comment (past the `---` of the first line).
  let first = -1;
  for (let at = 0, i = 0; at <= doc.length; i++) {
    const nl = doc.indexOf('\n', at);
    const end = nl === -1 ? doc.length : nl;
    const from = i === 0 && doc.startsWith('---') ? at + 3 : at;
    const t = doc.slice(from, end).trim();
    if (t !== '' && !t.startsWith('#')) {
      first = i;
      break;
    }
    if (nl === -1) break;
    at = nl + 1;
  }
  if (first === -1) return true; // nothing but comments: an empty document
  let value: unknown;
  try {
    value = jsYaml.load(doc, { schema: CORE_SCHEMA });
  } catch {
    return false;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const kind = (value as { kind?: unknown }).kind;
    if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray((value as { items?: unknown }).items)) return false;
  }
  collect(value, `${file}:${firstLine + first + 1}`, out);
  return true;
}

/** The `yaml` package's parse: positions of everything, slow. Exported for tests. */
export function parseManifestSlow(file: string, text: string): ParsedFile {
  const result: ParsedFile = { objects: [], errors: [], warnings: [] };
  const lines = new LineCounter();
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    result.errors.push({ where: `${file}:1`, message: errorMessage(err) });
    return result;
  }
  // parseAllDocuments returns an EmptyStream (not an array) for empty input.
  if (!Array.isArray(docs)) return result;
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 1 : lines.linePos(offset).line);

  for (const doc of docs) {
    for (const e of doc.errors) {
      result.errors.push({ where: `${file}:${e.linePos?.[0].line ?? lineOf(e.pos[0])}`, message: firstLine(e.message) });
    }
  }
  if (result.errors.length > 0) return result;

  for (const doc of docs) {
    const node = doc.contents;
    if (node === null) continue; // an empty document ("---" at the end of a file)
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      result.errors.push({ where: `${file}:${lineOf(node.range?.[0])}`, message: errorMessage(err) });
      continue;
    }
    collectNode(value, node, file, lineOf, result);
  }
  return result;
}

/** Adds an object, or each item of a list object, to the result. */
function collectNode(value: unknown, node: Node | null, file: string, lineOf: (o: number | undefined) => number, out: ParsedFile): void {
  const where = `${file}:${lineOf(node?.range?.[0])}`;
  const obj = value as Record<string, unknown> | null | undefined;
  if (obj && typeof obj === 'object' && typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
    const itemsNode = isMap(node) ? node.get('items', true) : undefined;
    const itemNodes = isSeq(itemsNode) ? itemsNode.items : [];
    obj.items.forEach((item, i) => collectNode(item, (itemNodes[i] as Node | undefined) ?? node, file, lineOf, out));
    return;
  }
  collect(value, where, out);
}

/** Adds one object read at `where` (List objects are flattened by the caller). */
function collect(value: unknown, where: string, out: ParsedFile): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    out.warnings.push({ where, message: 'document is not an object; ignored' });
    return;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.kind !== 'string' || obj.kind === '') {
    out.warnings.push({ where, message: 'object has no kind; ignored' });
    return;
  }
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '') {
    out.warnings.push({ where, message: `${obj.kind} has no metadata.name; ignored` });
    return;
  }
  if (typeof obj.apiVersion !== 'string') obj.apiVersion = '';
  out.objects.push({ object: obj as KubeObject, where });
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

function errorMessage(err: unknown): string {
  return firstLine(err instanceof Error ? err.message : String(err));
}
