// Proves that validateObject() (src/api/validation) judges objects as the API server does with the
// upstream v1.6.3 experimental CRDs: every corpus object goes through both our validator and the
// upstream CRDs (OpenAPI schema + CEL rules evaluated with @bufbuild/cel, see
// test/support/crd-validator.ts). They must agree on valid/invalid, agree with the corpus
// annotation, and every CEL rule failure of the CRDs must be reported by us at the same path with
// the same message. A coverage check makes sure the corpus breaks every CEL rule at least once.
// The CRDs come from the Go module cache (`go mod download`); without Go the test is skipped, loudly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { specSchema, validatedKinds, validateObject } from '../src/api/validation/index.ts';
import type { Node } from '../src/api/validation/index.ts';
import { loadCorpus } from './support/crd-corpus.ts';
import type { CorpusCase } from './support/crd-corpus.ts';
import { mutate, seededRandom, valuesByField } from './support/crd-mutate.ts';
import { CRDValidator, GATEWAY_API_MODULE, locateGatewayAPIModule } from './support/crd-validator.ts';
import type { Schema } from './support/crd-validator.ts';

/**
 * CEL rules no object can break on create, with the reason. Transition rules (oldSelf) and rules
 * under status are left out automatically; these are the rest.
 */
const UNBREAKABLE: Record<string, string> = {
  "HTTPRoute|.spec.rules[].matches[].path|self.type in ['Exact','PathPrefix'] || self.type == 'RegularExpression'":
    'repeats the enum of path.type: any value breaking it is an enum error, and the API server skips CEL after such (blocking) errors',
};

const located = locateGatewayAPIModule();

test('validation equivalence with the upstream CRDs', async (t) => {
  if ('skip' in located) {
    console.error(`SKIPPED: validation equivalence with ${GATEWAY_API_MODULE} CRDs: ${located.skip}`);
    t.skip(`SKIPPED: ${located.skip}`);
    return;
  }
  const crds = new CRDValidator(located.dir);
  const cases = loadCorpus();
  const violated = new Set<string>();

  await t.test('the corpus is large enough', () => {
    assert.ok(cases.length >= 150, `corpus has ${cases.length} objects, want at least 150`);
    assert.ok(cases.filter((c) => c.expect === 'valid').length >= 40, 'corpus needs valid objects near the boundaries too');
  });

  const byFile = new Map<string, CorpusCase[]>();
  for (const c of cases) {
    const file = c.id.split('#')[0];
    byFile.set(file, [...(byFile.get(file) ?? []), c]);
  }
  for (const [file, fileCases] of byFile) {
    await t.test(`corpus ${file}: both validators agree, with the annotations`, () => {
      const problems: string[] = [];
      for (const c of fileCases) {
        const ref = crds.validate(structuredClone(c.obj) as Record<string, unknown>);
        const ours = validateObject(structuredClone(c.obj));
        for (const e of ref) if (e.ruleId && !e.message.includes('rule failed to evaluate')) violated.add(e.ruleId);
        const refVerdict = ref.length ? 'invalid' : 'valid';
        const ourVerdict = ours.length ? 'invalid' : 'valid';
        const show = (errs: { path: string; message: string }[]) => errs.map((e) => `${e.path}: ${e.message}`).join(' | ') || '(none)';
        if (refVerdict !== c.expect) problems.push(`${c.id}: upstream CRDs say ${refVerdict}, the annotation says ${c.expect}; upstream: ${show(ref)}`);
        if (ourVerdict !== refVerdict) problems.push(`${c.id}: we say ${ourVerdict}, upstream CRDs say ${refVerdict}; upstream: ${show(ref)}; ours: ${show(ours)}`);
        for (const e of ref.filter((x) => x.ruleId)) {
          if (!ours.some((o) => o.path === e.path && e.message.startsWith(o.message))) {
            problems.push(`${c.id}: CEL rule failure not reported by us: ${e.path}: ${e.message}`);
          }
        }
        if (c.path && !ref.some((e) => e.path === c.path)) problems.push(`${c.id}: upstream reports no error at ${c.path}; upstream: ${show(ref)}`);
        if (c.path && !ours.some((e) => e.path === c.path)) problems.push(`${c.id}: we report no error at ${c.path}; ours: ${show(ours)}`);
      }
      assert.deepEqual(problems, []);
    });
  }

  await t.test('both validators agree on 1000+ mutants of the corpus objects', () => {
    // Fixed seed: the same mutants on every run. (Tens of thousands of seeds were run by hand.)
    const rand = seededRandom(20260716);
    const pool = valuesByField(cases.map((c) => c.obj));
    const problems: string[] = [];
    let mutants = 0;
    for (const c of cases) {
      for (let i = 0; i < 3; i++) {
        const obj = mutate(c.obj, rand, pool);
        if (!obj) continue;
        mutants++;
        const ref = crds.validate(structuredClone(obj) as Record<string, unknown>);
        const ours = validateObject(structuredClone(obj));
        const missing = ref.filter((e) => e.ruleId && !ours.some((o) => o.path === e.path && e.message.startsWith(o.message)));
        if ((ref.length === 0) !== (ours.length === 0) || missing.length > 0) {
          problems.push(`mutant of ${c.id}: ${JSON.stringify(obj.spec)}\n  upstream: ${ref.map((e) => `${e.path}: ${e.message}`).join(' | ') || '(valid)'}\n  ours: ${ours.map((e) => `${e.path}: ${e.message}`).join(' | ') || '(valid)'}`);
        }
      }
    }
    assert.ok(mutants >= 1000, `only ${mutants} mutants`);
    assert.deepEqual(problems.slice(0, 10), []);
  });

  await t.test('every CEL rule of the CRDs is broken by at least one corpus object', () => {
    const rules = crds.rules().filter((r) => !r.transition && !r.underStatus);
    const ids = new Set(rules.map((r) => r.id));
    for (const id of Object.keys(UNBREAKABLE)) assert.ok(ids.has(id), `exempted rule no longer in the CRDs: ${id}`);
    const missed = [...ids].filter((id) => !violated.has(id) && !(id in UNBREAKABLE));
    assert.deepEqual(missed, [], `${missed.length} of ${ids.size} CEL rules never broken by the corpus`);
    console.log(`validation equivalence: ${cases.length} objects, ${ids.size - missed.length - Object.keys(UNBREAKABLE).length}/${ids.size} CEL rules broken (${Object.keys(UNBREAKABLE).length} unbreakable on create)`);
  });

  await t.test('our schemas have the CRDs\' fields and constraints, node for node', () => {
    const problems: string[] = [];
    for (const { apiVersion, kind } of crds.served()) {
      const ours = specSchema(apiVersion, kind);
      if (ours) compareSchema(crds.specSchema(apiVersion, kind) ?? {}, ours, `${apiVersion} ${kind} spec`, problems);
    }
    assert.deepEqual(problems, []);
  });

  await t.test('we validate exactly the kinds and versions the CRDs serve', () => {
    const served = crds.served().map((g) => `${g.apiVersion} ${g.kind}`).sort();
    const ours = validatedKinds().map((g) => `${g.apiVersion} ${g.kind}`).sort();
    assert.deepEqual(ours, served);
  });
});

const INT32_MAX = 2147483647;
/** A pattern source with the escapes that differ between Go strings and JavaScript sources undone. */
const normalizePattern = (p: string) => p.replace(/\\x60/g, '`').replace(/\\\//g, '/');

/**
 * Walks a CRD schema and our node together: same fields, required fields, types, enums,
 * patterns, lengths, ranges, item and property counts, list types, defaults, and every CEL rule
 * message present (our extra rules only where the CRD says oneOf).
 */
function compareSchema(crd: Schema, ours: Node, path: string, problems: string[]): void {
  const want = (what: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${path}: ${what}: CRD ${JSON.stringify(a)}, ours ${JSON.stringify(b)}`);
  };
  want('default', crd.default, ours.def);
  const crdRules = (crd['x-kubernetes-validations'] ?? []).filter((r) => !/\boldSelf\b/.test(r.rule)).map((r) => r.message ?? r.rule);
  const ourRules = (ours.rules ?? []).map((r) => r.message);
  for (const m of crdRules) if (!ourRules.includes(m)) problems.push(`${path}: CEL rule missing: ${m}`);
  if (ourRules.length > crdRules.length && !crd.oneOf) problems.push(`${path}: rules the CRD does not have: ${ourRules.filter((m) => !crdRules.includes(m)).join('; ')}`);
  switch (ours.t) {
    case 'object':
      want('type', crd.type, 'object');
      want('fields', Object.keys(crd.properties ?? {}).sort(), Object.keys(ours.props).sort());
      want('required', [...(crd.required ?? [])].sort(), [...(ours.required ?? [])].sort());
      for (const [k, child] of Object.entries(ours.props)) if (crd.properties?.[k]) compareSchema(crd.properties[k], child, `${path}.${k}`, problems);
      break;
    case 'map':
      want('type', crd.type, 'object');
      want('maxProperties', crd.maxProperties, ours.maxProps);
      if (typeof crd.additionalProperties === 'object') compareSchema(crd.additionalProperties, ours.values, `${path}{}`, problems);
      else problems.push(`${path}: the CRD has no additionalProperties`);
      break;
    case 'array':
      want('type', crd.type, 'array');
      want('minItems', crd.minItems, ours.min);
      want('maxItems', crd.maxItems, ours.max);
      want('set', crd['x-kubernetes-list-type'] === 'set', ours.set === true);
      want('map keys', crd['x-kubernetes-list-map-keys'], ours.mapKeys);
      if (crd.items) compareSchema(crd.items, ours.items, `${path}[]`, problems);
      break;
    case 'string':
      want('type', crd.type, 'string');
      want('enum', crd.enum, ours.enum);
      want('minLength', crd.minLength, ours.min);
      want('maxLength', crd.maxLength, ours.max);
      want('pattern', crd.pattern === undefined ? undefined : normalizePattern(crd.pattern), ours.pattern && normalizePattern(ours.pattern.re.source));
      break;
    case 'integer':
      want('type', crd.type, 'integer');
      want('enum', crd.enum, ours.enum);
      want('minimum', crd.minimum, ours.min);
      want('maximum', crd.maximum ?? (crd.format === 'int32' && ours.max === INT32_MAX ? INT32_MAX : undefined), ours.max);
      break;
    case 'boolean':
      want('type', crd.type, 'boolean');
      break;
  }
}
