// Loads the validation corpus (test/validation-corpus/*.yaml): hand-written Gateway API objects,
// each annotated with what the API server does with it:
//   metadata.annotations["test.portico.dev/expect"]: valid | invalid
//   metadata.annotations["test.portico.dev/path"]: the field path of (one of) the errors, optional

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { KubeObject } from '../../src/api/meta.ts';

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'validation-corpus');

export interface CorpusCase {
  /** "file.yaml#index name" for messages */
  id: string;
  obj: KubeObject;
  expect: 'valid' | 'invalid';
  path?: string;
}

export function loadCorpus(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const file of readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    const docs = YAML.parseAllDocuments(readFileSync(join(CORPUS_DIR, file), 'utf8'));
    docs.forEach((doc, i) => {
      if (doc.errors.length) throw new Error(`${file} document ${i}: ${doc.errors[0].message}`);
      const obj = doc.toJS({ maxAliasCount: 1000 }) as KubeObject | null;
      if (!obj) return;
      const ann = obj.metadata?.annotations ?? {};
      const expect = ann['test.portico.dev/expect'];
      if (expect !== 'valid' && expect !== 'invalid') throw new Error(`${file} document ${i}: missing test.portico.dev/expect annotation`);
      cases.push({ id: `${file}#${i} ${obj.metadata?.name ?? '(no name)'}`, obj, expect, path: ann['test.portico.dev/path'] });
    });
  }
  return cases;
}
