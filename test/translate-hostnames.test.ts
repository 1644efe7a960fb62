// Hostname intersection and matching: unit cases from the spec's tables, then property tests
// over random hostnames (symmetry; the intersection matches exactly the hosts both match).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cmpHostSpecificity, hostMatches, intersect } from '../src/translate/hostnames.ts';
import { effectiveHostnames } from '../src/translate/attach.ts';
import { rng } from './support/wait.ts';

test('wildcards match one or more labels, never the bare suffix', () => {
  assert.equal(hostMatches('*.example.com', 'a.example.com'), true);
  assert.equal(hostMatches('*.example.com', 'a.b.example.com'), true);
  assert.equal(hostMatches('*.example.com', 'example.com'), false);
  assert.equal(hostMatches('*.example.com', 'aexample.com'), false);
  assert.equal(hostMatches(undefined, 'anything.org'), true);
  assert.equal(hostMatches('foo.com', 'foo.com'), true);
  assert.equal(hostMatches('foo.com', 'bar.foo.com'), false);
});

test('intersection per the spec tables', () => {
  assert.equal(intersect('foo.example.com', 'foo.example.com'), 'foo.example.com');
  assert.equal(intersect('foo.example.com', 'bar.example.com'), undefined);
  assert.equal(intersect('*.example.com', 'foo.example.com'), 'foo.example.com');
  assert.equal(intersect('*.example.com', 'example.com'), undefined);
  assert.equal(intersect('*.example.com', '*.foo.example.com'), '*.foo.example.com');
  assert.equal(intersect('*.example.com', '*.example.org'), undefined);
  assert.equal(intersect(undefined, '*.example.com'), '*.example.com');
  assert.equal(intersect(undefined, undefined), '*');
});

test('effective hostnames of a route on a listener', () => {
  assert.deepEqual(effectiveHostnames('*.example.com', []), ['*.example.com']);
  assert.deepEqual(effectiveHostnames(undefined, []), ['*']);
  assert.deepEqual(effectiveHostnames('*.example.com', ['a.example.com', 'b.example.org', '*.x.example.com']), ['a.example.com', '*.x.example.com']);
  assert.deepEqual(effectiveHostnames('very.specific.com', ['non.matching.com', '*.specific.com']), ['very.specific.com']);
  assert.deepEqual(effectiveHostnames('a.com', ['b.com']), []);
});

test('specificity: exact, then longer wildcard, then any', () => {
  const hs = ['*', '*.com', 'a.example.com', '*.example.com', 'z.com', undefined];
  const sorted = [...hs].sort(cmpHostSpecificity);
  assert.deepEqual(sorted.slice(0, 2), ['a.example.com', 'z.com']);
  assert.deepEqual(sorted.slice(2, 4), ['*.example.com', '*.com']);
});

// ---- property tests ----

const LABELS = ['a', 'b', 'c', 'example', 'com'];

function randomHost(r: () => number): string | undefined {
  const x = r();
  if (x < 0.1) return undefined;
  const n = 1 + Math.floor(r() * 3);
  const labels = Array.from({ length: n }, () => LABELS[Math.floor(r() * LABELS.length)]!);
  return r() < 0.4 ? '*.' + labels.join('.') : labels.join('.');
}

/** Every concrete host of up to 5 labels over the alphabet: the universe the properties quantify over. */
function universe(): string[] {
  const out: string[] = [];
  const grow = (prefix: string[]): void => {
    if (prefix.length > 0) out.push(prefix.join('.'));
    if (prefix.length === 4) return;
    for (const l of LABELS) grow([l, ...prefix]);
  };
  grow([]);
  return out;
}

test('property: intersection is symmetric and matches exactly the hosts both sides match', () => {
  const r = rng(42);
  const hosts = universe();
  for (let i = 0; i < 400; i++) {
    const a = randomHost(r);
    const b = randomHost(r);
    const ab = intersect(a, b);
    assert.equal(ab, intersect(b, a), `symmetry for ${a} / ${b}`);
    for (const h of hosts) {
      const both = hostMatches(a, h) && hostMatches(b, h);
      const viaIntersection = ab !== undefined && hostMatches(ab, h);
      assert.equal(viaIntersection, both, `host ${h} with ${a} ∩ ${b} = ${ab}`);
    }
  }
});

test('property: a hostname intersected with itself or with "any" is itself', () => {
  const r = rng(7);
  for (let i = 0; i < 200; i++) {
    const a = randomHost(r);
    assert.equal(intersect(a, a), a ?? '*');
    assert.equal(intersect(a, undefined), a ?? '*');
  }
});
