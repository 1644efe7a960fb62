// validateObject() alone (no Go, no CRDs needed): the corpus annotations, the shape of the
// errors a person reads, and robustness against any input.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../src/api/meta.ts';
import { isValidatedKind, validateObject } from '../src/api/validation/index.ts';
import { loadCorpus } from './support/crd-corpus.ts';

const V1 = 'gateway.networking.k8s.io/v1';

test('every corpus object gets the verdict and the error path its annotation says', () => {
  const cases = loadCorpus();
  assert.ok(cases.length >= 150);
  const problems: string[] = [];
  for (const c of cases) {
    const errs = validateObject(c.obj);
    const verdict = errs.length ? 'invalid' : 'valid';
    if (verdict !== c.expect) problems.push(`${c.id}: ${verdict}, want ${c.expect}: ${errs.map((e) => `${e.path}: ${e.message}`).join(' | ')}`);
    if (c.path && !errs.some((e) => e.path === c.path)) problems.push(`${c.id}: no error at ${c.path}: ${errs.map((e) => `${e.path}: ${e.message}`).join(' | ')}`);
  }
  assert.deepEqual(problems, []);
});

test('errors carry the field path and the CRD message', () => {
  const errs = validateObject({
    apiVersion: V1,
    kind: 'HTTPRoute',
    metadata: { name: 'r' },
    spec: {
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/ok' } }, { path: { type: 'Exact', value: '/a//b' } }] },
        { backendRefs: [{ name: 'svc' }] },
      ],
    },
  });
  assert.deepEqual(errs, [
    { path: 'spec.rules[0].matches[1].path', message: "must not contain '//' when type one of ['Exact', 'PathPrefix']" },
    { path: 'spec.rules[1].backendRefs[0]', message: 'Must have port for Service reference' },
  ]);
});

test('schema errors say what is wrong and what is allowed', () => {
  const errs = validateObject({
    apiVersion: V1,
    kind: 'Gateway',
    metadata: { name: 'g' },
    spec: { listeners: [{ name: 'web', port: 70000, protocol: 'HTTP', hostname: 'Bad.Example', tls: { mode: 'Both' } }] },
  });
  const byPath = Object.fromEntries(errs.map((e) => [e.path, e.message]));
  assert.equal(byPath['spec.gatewayClassName'], 'required field is missing');
  assert.equal(byPath['spec.listeners[0].port'], 'must be less than or equal to 65535');
  assert.match(byPath['spec.listeners[0].hostname'], /^invalid value "Bad.Example": must be a lowercase hostname/);
  assert.equal(byPath['spec.listeners[0].tls.mode'], 'unsupported value "Both": must be one of "Terminate", "Passthrough"');
  assert.equal(byPath['spec.listeners'], "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
});

test('defaults apply before the rules, and the input object is left untouched', () => {
  const route = {
    apiVersion: V1,
    kind: 'HTTPRoute',
    metadata: { name: 'r' },
    // no matches: the default PathPrefix "/" match makes ReplacePrefixMatch legal
    spec: { rules: [{ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' } } }] }] },
  };
  const before = JSON.stringify(route);
  assert.deepEqual(validateObject(route), []);
  assert.equal(JSON.stringify(route), before);
});

test('status is not validated (the API server ignores it on create)', () => {
  const gw = { apiVersion: V1, kind: 'Gateway', metadata: { name: 'g' }, spec: { gatewayClassName: 'c', listeners: [{ name: 'a', port: 80, protocol: 'HTTP' }] } };
  assert.deepEqual(validateObject({ ...gw, status: { addresses: 'garbage' } }), []);
});

test('kinds and versions outside the Gateway API CRDs pass', () => {
  assert.deepEqual(validateObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, data: 12 } as KubeObject), []);
  assert.deepEqual(validateObject({ apiVersion: 'gateway.networking.k8s.io/v9', kind: 'Gateway', metadata: { name: 'x' } }), []);
  assert.equal(isValidatedKind(V1, 'GRPCRoute'), true);
  assert.equal(isValidatedKind('gateway.networking.k8s.io/v1alpha2', 'GRPCRoute'), false);
});

test('no input makes the validator throw', () => {
  // Values of every JSON type, placed everywhere the corpus has a field: the validator must report
  // errors, never throw (bad input never crashes anything).
  const weird: unknown[] = [null, 0, -1, 1.5, 'x', '', true, [], [null], [1, 'a'], {}, { type: 7 }, [{}], [{ name: null }]];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const cases = loadCorpus();
  let checked = 0;
  for (const c of cases) {
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      if (p.length) paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(c.obj.spec, ['spec']);
    for (let n = 0; n < 3 && paths.length; n++) {
      const obj = structuredClone(c.obj) as any;
      const p = paths[rand(paths.length)];
      let parent = obj;
      for (const k of p.slice(0, -1)) parent = parent[k];
      parent[p[p.length - 1]] = structuredClone(weird[rand(weird.length)]);
      assert.doesNotThrow(() => validateObject(obj), `${c.id} with ${p.join('.')} replaced`);
      checked++;
    }
  }
  for (const w of weird) assert.doesNotThrow(() => validateObject({ apiVersion: V1, kind: 'HTTPRoute', metadata: w, spec: w } as KubeObject));
  assert.ok(checked > 300);
});
