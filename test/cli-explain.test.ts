import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainRequest, formatExplanation } from '../src/cli/explain.ts';
import type { IR, IRHTTPRoute, IRListener, IRMatch } from '../src/ir/types.ts';

function route(name: string, rule: number, match: Partial<IRMatch>, backends: [string, number][] = [[`${name}-svc`, 1]]): IRHTTPRoute {
  return {
    source: { kind: 'HTTPRoute', namespace: 'team', name, rule, match: 0 },
    kind: 'http',
    match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [], ...match },
    filters: [],
    backends: backends.map(([id, weight]) => ({ backendId: id, weight, filters: [] })),
  };
}

function listener(section: string, hostname: string | undefined, hosts: Record<string, IRHTTPRoute[]>): IRListener {
  return {
    source: { kind: 'Gateway', namespace: 'infra', name: 'gw', sectionName: section },
    id: `infra/gw/${section}`,
    port: 8080,
    protocol: 'HTTP',
    hostname,
    virtualHosts: Object.entries(hosts).map(([hostname, routes]) => ({ hostname, routes })),
    l4Routes: [],
  };
}

const ir: IR = {
  generation: 1,
  backends: {
    'team/exact-svc': { id: 'team/exact-svc', source: { kind: 'Service', namespace: 'team', name: 'exact' }, protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: 9000 }] },
  },
  gateways: [{
    source: { kind: 'Gateway', namespace: 'infra', name: 'gw' },
    addresses: [],
    listeners: [
      listener('exact', 'www.example.com', { 'www.example.com': [route('www', 0, {})] }),
      listener('wild', '*.example.com', {
        'api.example.com': [
          route('exact', 0, { path: { type: 'Exact', value: '/v1/users' } }, [['team/exact-svc', 1]]),
          route('header', 1, { path: { type: 'PathPrefix', value: '/v1' }, headers: [{ name: 'x-version', type: 'Exact', value: '2' }] }),
          route('regex', 2, { path: { type: 'RegularExpression', value: '/v1/items/[0-9]+' }, method: 'DELETE' }),
          route('split', 3, { path: { type: 'PathPrefix', value: '/v1/' } }, [['a', 3], ['b', 1]]),
          route('query', 4, { path: { type: 'PathPrefix', value: '/' }, queryParams: [{ name: 'debug', type: 'Exact', value: '1' }] }),
        ],
        '*.example.com': [route('wildroute', 0, {})],
      }),
    ],
  }],
};

const routeOf = (host: string, path: string, extra: { method?: string; headers?: Record<string, string> } = {}) =>
  explainRequest(ir, { host, path, ...extra })[0];

test('listener: exact hostname beats wildcard; wildcard needs at least one label', () => {
  assert.equal(routeOf('www.example.com', '/').listener?.source.sectionName, 'exact');
  assert.equal(routeOf('WWW.Example.com:8080', '/').listener?.source.sectionName, 'exact');
  assert.equal(routeOf('shop.example.com', '/').listener?.source.sectionName, 'wild');
  assert.equal(routeOf('shop.example.com', '/').route?.source.name, 'wildroute');
  const none = routeOf('example.com', '/');
  assert.equal(none.result, 'no-listener');
  assert.match(none.notes[0], /404/);
});

test('routes: the first match in IR order wins, by path, headers, method, query', () => {
  assert.equal(routeOf('api.example.com', '/v1/users').route?.source.name, 'exact');
  assert.equal(routeOf('api.example.com', '/v1/users', { headers: { 'X-Version': '2' } }).route?.source.name, 'exact');
  assert.equal(routeOf('api.example.com', '/v1/other', { headers: { 'X-Version': '2' } }).route?.source.name, 'header');
  assert.equal(routeOf('api.example.com', '/v1/items/12', { method: 'delete' }).route?.source.name, 'regex');
  assert.equal(routeOf('api.example.com', '/v1/items/12x', { method: 'DELETE' }).route?.source.name, 'split');
  assert.equal(routeOf('api.example.com', '/v1x?debug=1').route?.source.name, 'query');
});

test('path prefixes match whole segments only', () => {
  const o = routeOf('api.example.com', '/v1x');
  assert.equal(o.result, 'no-route');
  assert.ok(o.notes.some((n) => n.includes('path PathPrefix "/v1/" does not match "/v1x"')), o.notes.join('\n'));
  assert.ok(o.notes.some((n) => n.includes('query parameter debug')), o.notes.join('\n'));
});

test('backends: weights become shares; endpoints are shown', () => {
  const split = routeOf('api.example.com', '/v1/anything');
  assert.deepEqual(split.backends?.map((b) => [b.backendId, b.share]), [['a', 0.75], ['b', 0.25]]);
  const exact = routeOf('api.example.com', '/v1/users');
  const text = formatExplanation({ host: 'api.example.com', path: '/v1/users' }, [exact]);
  assert.match(text, /route {5}HTTPRoute team\/exact rule 0 match 0/);
  assert.match(text, /backend {3}team\/exact-svc weight 1 \(100%\) → 127\.0\.0\.1:9000/);
});

test('a port filter with no listener says so', () => {
  assert.deepEqual(explainRequest(ir, { host: 'www.example.com', path: '/', port: 9999 }), []);
  assert.match(formatExplanation({ host: 'x', path: '/', port: 9999 }, []), /no Gateway has a listener on port 9999/);
});

test('with --port, TLS listeners are explained by SNI, TCP listeners by their first route', () => {
  const l4 = (section: string, protocol: 'TLS' | 'TCP', port: number, hostname: string | undefined, routes: [string, string[]][]): IRListener => ({
    ...listener(section, hostname, {}),
    protocol,
    port,
    l4Routes: routes.map(([name, hostnames]) => ({ source: { kind: `${protocol}Route`, namespace: 'team', name, rule: 0 }, hostnames, backends: [{ backendId: `${name}-svc`, weight: 1, filters: [] }] })),
  });
  const l4ir: IR = {
    generation: 1,
    backends: {},
    gateways: [{
      source: { kind: 'Gateway', namespace: 'infra', name: 'gw' },
      addresses: [],
      listeners: [
        l4('tls', 'TLS', 443, '*.example.com', [['db', ['db.example.com']], ['rest', []]]),
        l4('tcp', 'TCP', 5432, undefined, [['pg', []]]),
      ],
    }],
  };
  const db = explainRequest(l4ir, { host: 'db.example.com', path: '/', port: 443 });
  assert.equal(db.length, 1);
  assert.equal(db[0].l4Route?.source.name, 'db');
  assert.equal(explainRequest(l4ir, { host: 'x.example.com', path: '/', port: 443 })[0].l4Route?.source.name, 'rest');
  const other = explainRequest(l4ir, { host: 'x.example.org', path: '/', port: 443 })[0];
  assert.equal(other.result, 'no-listener');
  assert.match(other.notes[0], /SNI "x\.example\.org"/);
  const pg = explainRequest(l4ir, { host: 'anything', path: '/', port: 5432 });
  assert.equal(pg[0].l4Route?.source.name, 'pg');
  assert.match(formatExplanation({ host: 'anything', path: '/', port: 5432 }, pg), /route {5}TCPRoute team\/pg rule 0/);
  assert.deepEqual(explainRequest(l4ir, { host: 'db.example.com', path: '/' }), [], 'without --port only HTTP listeners');
});
