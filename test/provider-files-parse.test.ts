// The fast manifest parse (js-yaml, document by document) gives exactly what the slow one (the
// `yaml` package, with positions) gives: the same objects, values and file:line of each, the same
// warnings; anything it cannot match (errors, anchors, Lists) is answered by the slow path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, parseManifestSlow } from '../src/providers/files/parse.ts';

function manifests(dir: string): string[] {
  let out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out = out.concat(manifests(p));
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(p);
  }
  return out;
}

test('every manifest of the repository parses the same on the fast and the slow path', () => {
  const files = ['test', 'examples', 'conformance'].flatMap((d) => { try { return manifests(d); } catch { return []; } });
  assert.ok(files.length > 50, `only ${files.length} files`);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    assert.deepEqual(parseManifest(f, text), parseManifestSlow(f, text), f);
  }
});

const cases: Record<string, string> = {
  scalars: `apiVersion: v1
kind: ConfigMap
metadata: {name: s, namespace: "x"}
data:
  a: 1_000
  b: 0o17
  c: 0x1F
  d: 017
  e: .5
  f: -.inf
  g: .NaN
  h: 1e3
  i: yes
  j: ~
  k: Null
  l: "true"
  m: 12:30
  n: 2026-01-01
  o: +12
  p: 1.50
  q: |
    line one
    line two
  r: >-
    folded
    text
  s: '*.example.com'
  t: !!str 12
  u: [1, "2", three, {x: y}]
  v:
  "w x": 'it''s'
`,
  documents: `# leading comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: a
--- # a comment on the marker line
# and a comment line

apiVersion: v1
kind: Namespace
metadata: {name: b}
...
---
--- {apiVersion: v1, kind: Namespace, metadata: {name: c}}
---
- just
- a list
---
kind: Namespace
---
apiVersion: v1
kind: Namespace
metadata: {}
`,
  crlf: 'apiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: crlf\r\n---\r\napiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: two}\r\n',
  list: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: a}
- apiVersion: v1
  kind: Namespace
  metadata: {name: b}
`,
  anchors: `apiVersion: v1
kind: ConfigMap
metadata: {name: a, labels: &l {x: y}}
data: *l
`,
  duplicate: `apiVersion: v1
kind: Namespace
metadata: {name: a}
kind: Namespace
`,
  broken: `apiVersion: v1
kind: Namespace
metadata:
  name: [unclosed
---
apiVersion: v1
`,
  json: '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}, "spec": {"n": 1.0, "big": 12345678901234567890}}\n',
  empty: '# nothing\n---\n---\n',
};

for (const [name, text] of Object.entries(cases)) {
  test(`fast and slow parse agree: ${name}`, () => {
    assert.deepEqual(parseManifest(`${name}.yaml`, text), parseManifestSlow(`${name}.yaml`, text));
  });
}
