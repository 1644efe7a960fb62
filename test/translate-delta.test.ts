// The incremental translator's delta runs (createTranslator, runDelta in translate/index.ts): when
// a snapshot differs from the previous one in routes only, and shares every other kind's map
// with it (as the file provider's snapshots do), only the changed routes are redone. Over random
// route edits (added, removed, modified, moved in precedence order, attached elsewhere, pointed
// at other backends), with other objects changed now and then, every result must be the same
// bytes as a fresh translate().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../src/api/meta.ts';
import { objectKey } from '../src/providers/snapshot.ts';
import type { Snapshot, SnapshotKind } from '../src/providers/snapshot.ts';
import { createTranslator, translate } from '../src/translate/index.ts';
import type { TranslateOptions, TranslateResult } from '../src/translate/index.ts';
import { rng } from './support/wait.ts';

const G = 'gateway.networking.k8s.io/v1';
const NAMESPACES = ['ns-0', 'ns-1', 'ns-2'];
const HOSTS = ['a.example.com', 'b.example.com', '*.example.com', 'other.org'];
const TIMES = ['2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:02Z', '2026-01-01T00:00:03Z'];

type Obj = Record<string, any>;

/** Snapshots that share the map of every kind that did not change, as the file provider's do. */
class Store {
  private maps = new Map<SnapshotKind, Map<string, KubeObject>>();
  private generation = 0;

  /** Keys written since the last snapshot, by kind (what Snapshot.changes tells). */
  private touched = new Map<SnapshotKind, Set<string>>();

  put(o: Obj): void {
    const key = objectKey(o.kind, o.metadata.namespace, o.metadata.name);
    this.writable(o.kind, key).set(key, o as KubeObject);
  }

  remove(kind: SnapshotKind, key: string): void {
    this.writable(kind, key).delete(key);
  }

  list(kind: SnapshotKind): [string, Obj][] {
    return [...(this.maps.get(kind) ?? new Map())];
  }

  /** The next snapshot; `tell`: with Snapshot.changes, as the file provider publishes. */
  snapshot(tell: boolean): Snapshot {
    this.frozen = new Set(this.maps.keys());
    const changes = { since: this.generation, keys: this.touched };
    this.touched = new Map();
    return { generation: ++this.generation, objects: new Map(this.maps), diagnostics: [], ...(tell ? { changes } : {}) };
  }

  private frozen = new Set<SnapshotKind>();
  private writable(kind: SnapshotKind, key: string): Map<string, KubeObject> {
    let keys = this.touched.get(kind);
    if (!keys) this.touched.set(kind, (keys = new Set()));
    keys.add(key);
    let m = this.maps.get(kind);
    if (!m || this.frozen.has(kind)) {
      m = new Map(m);
      this.maps.set(kind, m);
      this.frozen.delete(kind);
    }
    return m;
  }
}

class World {
  readonly store = new Store();
  private serial = 0;
  readonly r: () => number;
  readonly routeKinds: string[];
  constructor(r: () => number, routeKinds: string[]) {
    this.r = r;
    this.routeKinds = routeKinds;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.r() * list.length)]!;
  }

  route(name = `r-${this.serial++}`, ns = this.pick(NAMESPACES)): Obj {
    const kind = this.pick(this.routeKinds);
    const parentRefs = [this.parentRef()];
    if (this.r() < 0.2) parentRefs.push(this.r() < 0.5 ? parentRefs[0] : this.parentRef());
    const spec: Obj = { parentRefs };
    if (kind !== 'TCPRoute' && this.r() < 0.7) spec.hostnames = [this.pick(HOSTS)];
    spec.rules = Array.from({ length: 1 + Math.floor(this.r() * 2) }, () => this.rule(kind));
    return { apiVersion: G, kind, metadata: { name, namespace: ns, generation: 1, creationTimestamp: this.pick(TIMES) }, spec };
  }

  parentRef(): Obj {
    const p = this.r();
    if (p < 0.4) return { name: 'gw-a', namespace: 'infra', ...(this.r() < 0.4 ? { sectionName: this.pick(['http', 'sel', 'same', 'nope']) } : {}) };
    if (p < 0.6) return { name: 'gw-b', namespace: 'ns-1', ...(this.r() < 0.3 ? { port: this.pick([80, 9000, 81]) } : {}) };
    if (p < 0.9) return { kind: 'ListenerSet', name: this.pick(['ls-0', 'ls-1']), namespace: 'ns-2' };
    return { name: 'missing', namespace: 'infra' };
  }

  rule(kind: string): Obj {
    const backendRefs = [this.backendRef()];
    if (this.r() < 0.3) backendRefs.push(this.backendRef());
    if (kind === 'TCPRoute') return { backendRefs };
    if (kind === 'GRPCRoute') return { backendRefs, matches: [{ method: { service: this.pick(['svc.A', 'svc.B']), method: this.pick(['Get', 'Put']) } }] };
    return { backendRefs, matches: [{ path: { type: this.pick(['PathPrefix', 'Exact']), value: this.pick(['/', '/a', '/a/b']) } }] };
  }

  backendRef(): Obj {
    const ref: Obj = { name: this.pick(['svc-0', 'svc-1', 'svc-2']), port: this.r() < 0.9 ? 80 : 81 };
    if (this.r() < 0.3) ref.namespace = this.pick(NAMESPACES);
    return ref;
  }
}

function initial(w: World, routes: number): void {
  const s = w.store;
  s.put({ apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico', generation: 1 }, spec: { controllerName: 'portico.dev/gateway-controller' } });
  for (const ns of [...NAMESPACES, 'infra']) s.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: w.pick(['a', 'b']) } } });
  s.put({
    apiVersion: G, kind: 'Gateway', metadata: { name: 'gw-a', namespace: 'infra', generation: 1, creationTimestamp: TIMES[0] },
    spec: {
      gatewayClassName: 'portico', allowedListeners: { namespaces: { from: 'All' } },
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
        { name: 'sel', port: 8080, protocol: 'HTTP', hostname: '*.example.com', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } } } },
        { name: 'same', port: 8081, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } },
      ],
    },
  });
  s.put({
    apiVersion: G, kind: 'Gateway', metadata: { name: 'gw-b', namespace: 'ns-1', generation: 1, creationTimestamp: TIMES[1] },
    spec: {
      gatewayClassName: 'portico',
      listeners: [
        { name: 'web', port: 80, protocol: 'HTTP', hostname: 'a.example.com', allowedRoutes: { namespaces: { from: 'All' } } },
        { name: 'tcp', port: 9000, protocol: 'TCP', allowedRoutes: { namespaces: { from: 'All' } } },
      ],
    },
  });
  for (const [i, host] of ['a.example.com', 'b.example.com'].entries()) {
    s.put({
      apiVersion: G, kind: 'ListenerSet', metadata: { name: `ls-${i}`, namespace: 'ns-2', generation: 1, creationTimestamp: TIMES[0] },
      spec: { parentRef: { name: 'gw-a', namespace: 'infra' }, listeners: [{ name: 'extra', port: 8090, protocol: 'HTTP', hostname: host, allowedRoutes: { namespaces: { from: 'All' } } }] },
    });
  }
  for (const ns of NAMESPACES) {
    for (const svc of ['svc-0', 'svc-1']) {
      s.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: svc, namespace: ns }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
      s.put({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${svc}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
        addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }],
      });
    }
  }
  s.put({
    apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-ns-0', namespace: 'ns-1' },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ns-0' }], to: [{ group: '', kind: 'Service' }] },
  });
  for (let i = 0; i < routes; i++) s.put(w.route());
}

/** Mostly route edits; now and then a change to another kind (a full run). */
function mutate(w: World): void {
  const s = w.store;
  const routes = w.routeKinds.flatMap((k) => s.list(k as SnapshotKind));
  const p = w.r();
  if (p < 0.35 || routes.length === 0) s.put(w.route());
  else if (p < 0.55) {
    const [key, o] = w.pick(routes);
    s.remove(o.kind, key);
  } else if (p < 0.85) {
    // A new version of an existing route (possibly of another kind, older or newer).
    const [, o] = w.pick(routes);
    const next = w.route(o.metadata.name, o.metadata.namespace);
    next.metadata.generation = o.metadata.generation + 1;
    if (next.kind !== o.kind) s.remove(o.kind, `${o.metadata.namespace}/${o.metadata.name}`);
    s.put(next);
  } else if (p < 0.9) {
    // An equal copy: a new instance with the same content.
    const [, o] = w.pick(routes);
    s.put(structuredClone(o));
  } else if (p < 0.95) {
    const [, svc] = w.pick(s.list('Service'));
    const c = structuredClone(svc);
    c.spec.ports[0].port = w.pick([80, 81]);
    s.put(c);
  } else {
    const [, ns] = w.pick(s.list('Namespace'));
    const c = structuredClone(ns);
    c.metadata.labels.team = w.pick(['a', 'b']);
    s.put(c);
  }
}

function sequence(seed: number, kinds: string[], steps: number): number {
  const w = new World(rng(seed), kinds);
  initial(w, 30);
  const translator = createTranslator();
  let previous: Map<string, unknown> | undefined;
  let last: TranslateResult | undefined;
  let reused = 0;
  for (let step = 1; step <= steps; step++) {
    const n = w.r() < 0.8 ? 1 : 2 + Math.floor(w.r() * 3);
    for (let i = 0; i < n; i++) mutate(w);
    const snapshot = w.store.snapshot(w.r() < 0.5);
    const options: TranslateOptions = { now: `2026-01-02T00:00:${String(step % 60).padStart(2, '0')}Z` };
    // Mostly the statuses handed out last (as the run loop passes them), sometimes copies.
    if (previous) {
      const same = w.r() < 0.9;
      options.previous = same ? previous : structuredClone(previous);
      // As the run loop does: it vouches for a previous map that is the last result's statuses.
      if (same && w.r() < 0.5) options.previousIsLast = true;
    }
    const got = translator.translate(snapshot, options);
    const want = translate(snapshot, options);
    assert.equal(JSON.stringify(got), JSON.stringify(want), `seed ${seed}, step ${step}: incremental result differs`);
    // A delta run keeps the IR parts no change reached (a full run builds new ones).
    if (last && got.ir.backends === last.ir.backends) reused++;
    previous = new Map(got.statuses.map((s) => [s.key, s.status]));
    last = got;
  }
  return reused;
}

test('delta runs (routes changed only) give the same bytes as a fresh translate()', () => {
  let reused = 0;
  for (let seed = 1; seed <= 8; seed++) reused += sequence(seed, ['HTTPRoute'], 80);
  for (let seed = 11; seed <= 13; seed++) reused += sequence(seed, ['HTTPRoute', 'TCPRoute'], 60);
  assert.ok(reused > 100, `only ${reused} delta runs`);
});

test('with both HTTPRoutes and GRPCRoutes (cross serving), route changes still give the same bytes', () => {
  for (let seed = 21; seed <= 24; seed++) sequence(seed, ['HTTPRoute', 'GRPCRoute'], 50);
});
