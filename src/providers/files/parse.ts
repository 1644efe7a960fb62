// Parsing of one manifest file: YAML or JSON, any number of documents, `kind: List` (and any
// `*List` kind with `items`) flattened. Never throws: problems come back as `file:line` diagnostics.
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
    collect(value, node, file, lineOf, result);
  }
  return result;
}

/** Adds an object, or each item of a list object, to the result. */
function collect(value: unknown, node: Node | null, file: string, lineOf: (o: number | undefined) => number, out: ParsedFile): void {
  const where = `${file}:${lineOf(node?.range?.[0])}`;
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    out.warnings.push({ where, message: 'document is not an object; ignored' });
    return;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
    const itemsNode = isMap(node) ? node.get('items', true) : undefined;
    const itemNodes = isSeq(itemsNode) ? itemsNode.items : [];
    obj.items.forEach((item, i) => collect(item, (itemNodes[i] as Node | undefined) ?? node, file, lineOf, out));
    return;
  }
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
