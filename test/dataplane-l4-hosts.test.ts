// SNI matching rules for TLS listeners and TLSRoutes (exact > longest wildcard > catch-all;
// a wildcard covers one or more labels, never its own suffix).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostnameScore, selectListener, selectRoute } from '../src/dataplane/l4/hosts.ts';
import { l4route, listener } from './support/l4-net.ts';

test('hostnameScore', () => {
  const cases: [string | undefined, string, boolean][] = [
    ['a.example.com', 'a.example.com', true],
    ['A.Example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'aexample.com', false],
    ['*', 'anything.example', true],
    [undefined, 'anything.example', true],
  ];
  for (const [pattern, host, matches] of cases) assert.equal(hostnameScore(pattern, host) >= 0, matches, `${pattern} vs ${host}`);
  assert.ok(hostnameScore('a.example.com', 'a.example.com') > hostnameScore('*.example.com', 'a.example.com'));
  assert.ok(hostnameScore('*.b.example.com', 'a.b.example.com') > hostnameScore('*.example.com', 'a.b.example.com'));
  assert.ok(hostnameScore('*.example.com', 'a.example.com') > hostnameScore(undefined, 'a.example.com'));
});

test('selectListener: most specific wins regardless of order, ties keep IR order', () => {
  const ls = [
    listener('any', 'TLS', 443, []),
    listener('wide', 'TLS', 443, [], { hostname: '*.com' }),
    listener('wild', 'TLS', 443, [], { hostname: '*.example.com' }),
    listener('exact', 'TLS', 443, [], { hostname: 'a.example.com' }),
  ];
  assert.equal(selectListener(ls, 'a.example.com')?.id, 'default/gw/exact');
  assert.equal(selectListener(ls, 'b.example.com')?.id, 'default/gw/wild');
  assert.equal(selectListener(ls, 'example.com')?.id, 'default/gw/wide');
  assert.equal(selectListener(ls, 'example.org')?.id, 'default/gw/any');
  assert.equal(selectListener(ls.slice(1), 'example.org'), undefined);
  const twins = [listener('first', 'TLS', 443, [], { hostname: '*.example.com' }), listener('second', 'TLS', 443, [], { hostname: '*.example.com' })];
  assert.equal(selectListener(twins, 'a.example.com')?.id, 'default/gw/first');
});

test('selectRoute: route hostnames, empty list matches any SNI last', () => {
  const rs = [l4route('all', [['x', 1]]), l4route('wild', [['x', 1]], ['*.example.com', 'z.example.org']), l4route('exact', [['x', 1]], ['a.example.com'])];
  assert.equal(selectRoute(rs, 'a.example.com')?.source.name, 'exact');
  assert.equal(selectRoute(rs, 'q.example.com')?.source.name, 'wild');
  assert.equal(selectRoute(rs, 'z.example.org')?.source.name, 'wild');
  assert.equal(selectRoute(rs, 'other.net')?.source.name, 'all');
  assert.equal(selectRoute(rs.slice(1), 'other.net'), undefined);
});
