// Router and filter building blocks, without sockets: host tables, whole-segment prefixes, the
// regex engine (RE2 semantics: linear time), path rewrites and redirect Location rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostTable, normalizeHost } from '../src/dataplane/router/hosts.ts';
import { prefixMatches } from '../src/dataplane/router/match.ts';
import { compileRegex } from '../src/dataplane/router/regex.ts';
import { rewritePath } from '../src/dataplane/filters/path.ts';
import { needsNormalization, normalizePath } from '../src/dataplane/router/path.ts';
import { redirectLocation } from '../src/dataplane/filters/redirect.ts';
import { compileCors, originAllowed } from '../src/dataplane/filters/cors.ts';

test('HostTable: exact, then the longest wildcard (one or more labels), then catch-all', () => {
  const t = new HostTable<string>();
  t.add('*.example.com', 'wild');
  t.add('*.b.example.com', 'wild-b');
  t.add('a.example.com', 'exact');
  t.add(undefined, 'any');
  assert.equal(t.lookup('a.example.com'), 'exact');
  assert.equal(t.lookup('x.example.com'), 'wild');
  assert.equal(t.lookup('x.b.example.com'), 'wild-b');
  assert.equal(t.lookup('x.y.example.com'), 'wild');
  assert.equal(t.lookup('example.com'), 'any');
  assert.equal(t.lookup('.example.com'), 'any', 'an empty label is not a label');
  const none = new HostTable<string>();
  none.add('a.test', 'a');
  assert.equal(none.lookup('b.test'), undefined);
});

test('normalizeHost strips port and trailing dot, lower-cases', () => {
  assert.equal(normalizeHost('Foo.Example.COM:8080'), 'foo.example.com');
  assert.equal(normalizeHost('foo.example.com.'), 'foo.example.com');
  assert.equal(normalizeHost('[::1]:80'), '[::1]');
  assert.equal(normalizeHost(undefined), '');
});

test('PathPrefix matches whole segments', () => {
  assert.ok(prefixMatches('/foo', '/foo'));
  assert.ok(prefixMatches('/foo', '/foo/'));
  assert.ok(prefixMatches('/foo', '/foo/bar'));
  assert.ok(!prefixMatches('/foo', '/foobar'));
  assert.ok(prefixMatches('', '/anything'));
});

test('regex: full match, literal fast paths, linear time on a pathological pattern', () => {
  assert.ok(compileRegex('/v[0-9]+/users').test('/v12/users'));
  assert.ok(!compileRegex('/v[0-9]+/users').test('/v12/users/x'));
  assert.ok(compileRegex('^/exact$').test('/exact'));
  assert.ok(compileRegex('/api.*').test('/api/x'));
  assert.ok(!compileRegex('/api.*').test('/ap'));
  assert.ok(!compileRegex('(a+').test('(a+'), 'an invalid pattern matches nothing');
  const evil = compileRegex('(a+)+$');
  const t0 = performance.now();
  assert.ok(!evil.test('a'.repeat(5000) + '!'));
  assert.ok(performance.now() - t0 < 2000, 'no catastrophic backtracking');
});

test('ReplacePrefixMatch follows the spec table', () => {
  const r = (prefix: string, value: string, path: string) => rewritePath({ type: 'ReplacePrefixMatch', value }, prefix, path);
  assert.equal(r('/foo', '/xyz', '/foo/bar'), '/xyz/bar');
  assert.equal(r('/foo', '/xyz/', '/foo/bar'), '/xyz/bar');
  assert.equal(r('/foo', '/xyz', '/foo'), '/xyz');
  assert.equal(r('/foo', '/xyz', '/foo/'), '/xyz/');
  assert.equal(r('/foo', '/', '/foo/bar'), '/bar');
  assert.equal(r('/foo', '/', '/foo'), '/');
  assert.equal(r('', '/xyz', '/bar'), '/xyz/bar');
  assert.equal(rewritePath({ type: 'ReplaceFullPath', value: '/x' }, '/foo', '/foo/bar'), '/x');
});

test('redirect Location: default ports omitted, scheme implies its port, listener port otherwise', () => {
  const loc = (r: Parameters<typeof redirectLocation>[0], scheme: 'http' | 'https' = 'http', port = 80) =>
    redirectLocation(r, scheme, port, 'h.test', undefined, '/p', '');
  assert.equal(loc({ statusCode: 302 }), 'http://h.test/p');
  assert.equal(loc({ statusCode: 302 }, 'http', 8080), 'http://h.test:8080/p');
  assert.equal(loc({ scheme: 'https', statusCode: 302 }, 'http', 8080), 'https://h.test/p');
  assert.equal(loc({ scheme: 'http', statusCode: 302 }, 'https', 8443), 'http://h.test/p');
  assert.equal(loc({ port: 443, statusCode: 302 }, 'https', 8443), 'https://h.test/p');
  assert.equal(loc({ port: 443, statusCode: 302 }, 'http', 80), 'http://h.test:443/p');
  assert.equal(loc({ hostname: 'o.test', port: 8080, statusCode: 301 }), 'http://o.test:8080/p');
});

test('CORS origins: exact, greedy leftmost wildcard with scheme and port, "*"', () => {
  const c = compileCors({ allowOrigins: ['https://www.foo.com', 'https://*.bar.com', 'http://*.p.com:8080'], allowCredentials: false, allowMethods: [], allowHeaders: [], exposeHeaders: [], maxAge: 5 });
  assert.ok(originAllowed(c, 'https://www.foo.com'));
  assert.ok(originAllowed(c, 'https://a.b.bar.com'));
  assert.ok(!originAllowed(c, 'https://bar.com'));
  assert.ok(!originAllowed(c, 'http://a.bar.com'));
  assert.ok(originAllowed(c, 'http://x.p.com:8080'));
  assert.ok(!originAllowed(c, 'http://x.p.com'));
  assert.ok(originAllowed(compileCors({ allowOrigins: ['*'], allowCredentials: false, allowMethods: [], allowHeaders: [], exposeHeaders: [], maxAge: 5 }), 'null'));
});

test('request paths: dot segments resolved (encoded dots too), slashes merged, before matching', () => {
  const n = (p: string) => (needsNormalization(p) ? normalizePath(p) : p);
  assert.equal(n('/public/../admin'), '/admin');
  assert.equal(n('/public/%2e%2e/admin'), '/admin');
  assert.equal(n('/a/./b'), '/a/b');
  assert.equal(n('/a/b/..'), '/a/');
  assert.equal(n('/../../etc'), '/etc');
  assert.equal(n('/a/b/.'), '/a/b/');
  assert.equal(n('/.well-known/x'), '/.well-known/x');
  assert.equal(n('/plain/path'), '/plain/path');
  assert.equal(n('/a%2Fb'), '/a%2Fb', 'encoded slashes stay as they are');
  assert.equal(n('//admin//x/'), '/admin/x/', 'runs of slashes merged');
  assert.equal(n('//'), '/');
});
