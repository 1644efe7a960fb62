// The incremental translator (createTranslator) against a fresh translate(): over sequences of
// random snapshot changes (routes added, removed, modified, reordered or copied unchanged;
// Gateway listeners, ListenerSets, Services, EndpointSlices, ReferenceGrants, BackendTLSPolicies,
// XBackendTrafficPolicies and namespace labels changed), every result must be the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../src/api/meta.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { createTranslator, translate } from '../src/translate/index.ts';
import type { TranslateOptions } from '../src/translate/index.ts';
import { rng } from './support/wait.ts';

const G = 'gateway.networking.k8s.io/v1';
const NAMESPACES = ['ns-0', 'ns-1', 'ns-2', 'ns-3'];
const HOSTS = ['a.example.com', 'b.example.com', '*.example.com', 'other.org', 'x.a.example.com'];
const TIMES = ['2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', '2026-01-01T00:00:02Z'];

type Obj = Record<string, any>;

class World {
  readonly objects = new Map<string, Obj>();
  private serial = 0;
  readonly r: () => number;
  constructor(r: () => number) {
    this.r = r;
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.r() * list.length)]!;
  }

  put(o: Obj): void {
    this.objects.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o);
  }

  ofKind(kind: string): Obj[] {
    return [...this.objects.values()].filter((o) => o.kind === kind);
  }

  /** A modified copy: objects handed to a snapshot are never mutated afterwards. */
  edit(o: Obj, change: (c: Obj) => void, bump = true): void {
    const c = structuredClone(o);
    change(c);
    if (bump) c.metadata.generation = (c.metadata.generation ?? 1) + 1;
    this.put(c);
  }

  route(): Obj {
    const n = this.serial++;
    const kind = this.r() < 0.8 ? 'HTTPRoute' : this.r() < 0.5 ? 'GRPCRoute' : 'TCPRoute';
    const ns = this.pick(NAMESPACES);
    const parentRefs = [this.parentRef()];
    if (this.r() < 0.2) parentRefs.push(this.parentRef());
    const spec: Obj = { parentRefs };
    if (kind !== 'TCPRoute' && this.r() < 0.7) spec.hostnames = [this.pick(HOSTS)];
    const rules: Obj[] = [];
    for (let i = 0, k = 1 + Math.floor(this.r() * 2); i < k; i++) rules.push(this.rule(kind));
    spec.rules = rules;
    return { apiVersion: G, kind, metadata: { name: `r-${n}`, namespace: ns, generation: 1, creationTimestamp: this.pick(TIMES) }, spec };
  }

  parentRef(): Obj {
    const p = this.r();
    if (p < 0.45) return { name: 'gw-a', namespace: 'infra', ...(this.r() < 0.4 ? { sectionName: this.pick(['http', 'sel', 'same', 'nope']) } : {}) };
    if (p < 0.7) return { name: 'gw-b', namespace: 'ns-1', ...(this.r() < 0.3 ? { port: this.pick([80, 9000, 81]) } : {}) };
    if (p < 0.9) return { kind: 'ListenerSet', name: 'ls', namespace: 'ns-2' };
    return { name: 'missing', namespace: 'infra' };
  }

  rule(kind: string): Obj {
    const backendRefs = [this.backendRef()];
    if (this.r() < 0.3) backendRefs.push(this.backendRef());
    if (kind === 'TCPRoute') return { backendRefs };
    const rule: Obj = { backendRefs };
    if (kind === 'HTTPRoute') {
      rule.matches = [{ path: { type: this.pick(['PathPrefix', 'Exact', 'RegularExpression']), value: this.pick(['/', '/a', '/a/b', '/api']) } }];
      if (this.r() < 0.2) rule.matches.push({ path: { type: 'PathPrefix', value: '/x' }, headers: [{ name: 'h', value: 'v' }] });
      if (this.r() < 0.1) rule.filters = [{ type: 'RequestMirror', requestMirror: { backendRef: this.backendRef() } }];
    } else {
      rule.matches = [{ method: { service: this.pick(['svc.A', 'svc.B']), method: this.pick(['Get', 'Put']) } }];
    }
    return rule;
  }

  backendRef(): Obj {
    const ref: Obj = { name: this.pick(['svc-0', 'svc-1', 'svc-2']), port: this.r() < 0.9 ? 80 : 81 };
    if (this.r() < 0.3) ref.namespace = this.pick(NAMESPACES);
    if (this.r() < 0.2) ref.weight = this.pick([0, 1, 5]);
    return ref;
  }
}

function initial(w: World): void {
  w.put({ apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico', generation: 1 }, spec: { controllerName: 'portico.dev/gateway-controller' } });
  for (const ns of [...NAMESPACES, 'infra']) w.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: w.pick(['a', 'b']) } } });
  w.put({
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
  w.put({
    apiVersion: G, kind: 'Gateway', metadata: { name: 'gw-b', namespace: 'ns-1', generation: 1, creationTimestamp: TIMES[1] },
    spec: {
      gatewayClassName: 'portico',
      listeners: [
        { name: 'web', port: 80, protocol: 'HTTP', hostname: 'a.example.com', allowedRoutes: { namespaces: { from: 'All' } } },
        { name: 'tcp', port: 9000, protocol: 'TCP', allowedRoutes: { namespaces: { from: 'All' } } },
      ],
    },
  });
  w.put({
    apiVersion: G, kind: 'ListenerSet', metadata: { name: 'ls', namespace: 'ns-2', generation: 1, creationTimestamp: TIMES[0] },
    spec: { parentRef: { name: 'gw-a', namespace: 'infra' }, listeners: [{ name: 'extra', port: 8090, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }] },
  });
  for (const ns of NAMESPACES) {
    for (const svc of ['svc-0', 'svc-1']) {
      w.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: svc, namespace: ns }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
      w.put({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${svc}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
        addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }],
      });
    }
  }
  w.put({
    apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-ns-0', namespace: 'ns-1' },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ns-0' }], to: [{ group: '', kind: 'Service' }] },
  });
  w.put({
    apiVersion: G, kind: 'BackendTLSPolicy', metadata: { name: 'tls-0', namespace: 'ns-0', generation: 1 },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'svc-0' }], validation: { hostname: 'svc-0.example.com', wellKnownCACertificates: 'System' } },
  });
  w.put({
    apiVersion: 'gateway.networking.x-k8s.io/v1alpha1', kind: 'XBackendTrafficPolicy', metadata: { name: 'traffic', namespace: 'ns-0', generation: 1 },
    spec: { targetRefs: [{ group: '', kind: 'Service', name: 'svc-1' }], retryConstraint: { budget: { percent: 20 } } },
  });
  for (let i = 0; i < 25; i++) w.put(w.route());
}

const WEIRD: unknown[] = [null, 0, -1, 65536, 1.5, '', 'x', '*', '/../', '(?=a)', true, [], {}, [null], NaN, 'a'.repeat(300)];

/** A random field somewhere in a copy of a random object gets an odd value (wrong type, bad value). */
function garble(w: World): void {
  const objects = [...w.objects.values()].filter((o) => o.kind !== 'GatewayClass');
  w.edit(w.pick(objects), (c) => {
    let node: any = c.spec ?? c;
    for (let depth = 0; depth < 4; depth++) {
      const keys = node && typeof node === 'object' ? Object.keys(node) : [];
      if (keys.length === 0) break;
      const k = w.pick(keys);
      if (depth === 3 || typeof node[k] !== 'object' || node[k] === null || w.r() < 0.3) {
        if (!(k === 'name' && depth === 0)) node[k] = structuredClone(w.pick(WEIRD));
        break;
      }
      node = node[k];
    }
  });
}

/** One random change to the world. */
function mutate(w: World): void {
  if (w.r() < 0.08) {
    garble(w);
    return;
  }
  const p = w.r();
  const routes = [...w.ofKind('HTTPRoute'), ...w.ofKind('GRPCRoute'), ...w.ofKind('TCPRoute')];
  if (p < 0.15) w.put(w.route());
  else if (p < 0.25 && routes.length > 0) {
    const o = w.pick(routes);
    w.objects.delete(`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
  } else if (p < 0.4 && routes.length > 0) {
    const o = w.pick(routes);
    const fresh = w.route();
    w.edit(o, (c) => { c.spec = fresh.spec; });
  } else if (p < 0.47 && routes.length > 0) {
    w.edit(w.pick(routes), (c) => { c.metadata.creationTimestamp = w.pick(TIMES); }, false);
  } else if (p < 0.55 && routes.length > 0) {
    w.edit(w.pick(routes), () => {}, false); // an equal copy: same content, new instance
  } else if (p < 0.62) {
    w.edit(w.pick(w.ofKind('Gateway')), (c) => {
      const l = w.pick(c.spec.listeners as Obj[]);
      const q = w.r();
      if (q < 0.3) l.hostname = w.pick(HOSTS);
      else if (q < 0.4) delete l.hostname;
      else if (q < 0.55) l.allowedRoutes = { namespaces: { from: 'Selector', selector: { matchLabels: { team: w.pick(['a', 'b']) } } } };
      else if (q < 0.7) l.allowedRoutes = { namespaces: { from: w.pick(['All', 'Same']) } };
      else if (q < 0.85) l.port = w.pick([80, 8080, 8082]);
      else c.spec.listeners.push({ name: `l${Math.floor(w.r() * 1000)}`, port: 80, protocol: 'HTTP', hostname: w.pick(HOSTS) });
    });
  } else if (p < 0.66) {
    w.edit(w.ofKind('ListenerSet')[0]!, (c) => { c.spec.listeners[0].port = w.pick([8090, 8080, 80]); });
  } else if (p < 0.74) {
    const ns = w.pick(NAMESPACES);
    const svc = w.pick(['svc-0', 'svc-1', 'svc-2']);
    const key = `Service/${ns}/${svc}`;
    if (w.objects.has(key) && w.r() < 0.4) w.objects.delete(key);
    else w.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: svc, namespace: ns }, spec: { ports: [{ name: 'http', port: w.pick([80, 81]), targetPort: 8080, ...(w.r() < 0.2 ? { appProtocol: 'kubernetes.io/h2c' } : {}) }] } });
  } else if (p < 0.8) {
    const slices = w.ofKind('EndpointSlice');
    w.edit(w.pick(slices), (c) => { c.endpoints = [{ addresses: [w.pick(['10.0.0.1', '10.0.0.2'])], conditions: { ready: w.r() < 0.8 } }]; }, false);
  } else if (p < 0.86) {
    const key = 'ReferenceGrant/ns-1/from-ns-0';
    if (w.objects.has(key)) w.objects.delete(key);
    else {
      w.put({
        apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-ns-0', namespace: 'ns-1' },
        spec: { from: [{ group: 'gateway.networking.k8s.io', kind: w.pick(['HTTPRoute', 'GRPCRoute']), namespace: 'ns-0' }], to: [{ group: '', kind: 'Service' }] },
      });
    }
  } else if (p < 0.93) {
    w.edit(w.pick(w.ofKind('Namespace')), (c) => { c.metadata.labels = { team: w.pick(['a', 'b', 'c']) }; }, false);
  } else if (p < 0.945) {
    w.edit(w.ofKind('BackendTLSPolicy')[0]!, (c) => { c.spec.targetRefs[0].name = w.pick(['svc-0', 'svc-1']); });
  } else if (p < 0.96) {
    w.edit(w.ofKind('XBackendTrafficPolicy')[0]!, (c) => {
      c.spec.targetRefs[0].name = w.pick(['svc-0', 'svc-1']);
      c.spec.retryConstraint.budget.percent = w.pick([10, 20, 150]);
    });
  } else {
    w.edit(w.ofKind('Gateway')[0]!, (c) => { c.spec.gatewayClassName = w.pick(['portico', 'other']); });
  }
}

function sequence(seed: number, steps: number): void {
  const w = new World(rng(seed));
  initial(w);
  const translator = createTranslator();
  let previous: Map<string, unknown> | undefined;
  for (let step = 1; step <= steps; step++) {
    const changes = 1 + Math.floor(w.r() * 3);
    for (let i = 0; i < changes; i++) {
      try {
        mutate(w);
      } catch {
        // A structured edit of an object garble() broke: skip it (the object keeps its odd value).
      }
    }
    const snapshot = buildSnapshot([...w.objects.values()] as KubeObject[], step);
    const options: TranslateOptions = { now: `2026-01-02T00:00:${String(step % 60).padStart(2, '0')}Z` };
    // Mostly the previous statuses of the incremental run (as the run loop passes them),
    // sometimes none, sometimes equal copies (no identity to rely on).
    const q = w.r();
    if (previous && q < 0.8) options.previous = previous;
    else if (previous && q < 0.9) options.previous = structuredClone(previous);
    const got = translator.translate(snapshot, options);
    const want = translate(snapshot, options);
    assert.equal(JSON.stringify(got), JSON.stringify(want), `seed ${seed}, step ${step}: incremental result differs`);
    previous = new Map(got.statuses.map((s) => [s.key, s.status]));
  }
}

test('incremental translator equals a fresh translate() over random snapshot changes', () => {
  for (let seed = 1; seed <= 12; seed++) sequence(seed, 60);
});

test('incremental translator: an unchanged snapshot gives the same result, with statuses reused', () => {
  const w = new World(rng(99));
  initial(w);
  const translator = createTranslator();
  const snapshot = buildSnapshot([...w.objects.values()] as KubeObject[], 1);
  const first = translator.translate(snapshot, { now: '2026-01-02T00:00:00Z' });
  const previous = new Map(first.statuses.map((s) => [s.key, s.status]));
  const again = translator.translate(buildSnapshot([...w.objects.values()] as KubeObject[], 2), { now: '2026-01-02T00:01:00Z', previous });
  assert.equal(JSON.stringify(again), JSON.stringify(translate(buildSnapshot([...w.objects.values()] as KubeObject[], 2), { now: '2026-01-02T00:01:00Z', previous })));
  const routeStatuses = again.statuses.filter((s) => s.key.startsWith('HTTPRoute/'));
  assert.ok(routeStatuses.length > 0);
  for (const s of routeStatuses) assert.equal(s.status, previous.get(s.key), `${s.key}: status not reused`);
});
