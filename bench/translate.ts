// translate() at scale: 5,000 HTTPRoutes over 500 namespaces and 50 Gateways, a full
// translation and then a one-route change. Targets (issue "Foundation"): < 300 ms and < 20 ms.
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { translate } from '../src/translate/index.ts';
import type { KubeObject } from '../src/api/meta.ts';
import { backend, gateway, gatewayClass, route, routeHost } from './lib/manifests.ts';
import { median, fmt, table } from './lib/stats.ts';

function objects(routes: number, namespaces: number, gateways: number): KubeObject[] {
  const objs: object[] = [gatewayClass()];
  for (let g = 0; g < gateways; g++) objs.push(gateway(g, 10000 + g));
  for (let n = 0; n < namespaces; n++) objs.push(...backend(`ns-${n}`, 9200));
  for (let i = 0; i < routes; i++) objs.push(route(i, `ns-${i % namespaces}`, `gw-${i % gateways}`, routeHost(i)));
  // Distinct creation times so precedence has real work to do.
  objs.forEach((o: any, i) => { o.metadata.creationTimestamp = new Date(Date.UTC(2026, 0, 1, 0, 0, i % 86400)).toISOString(); o.metadata.generation = 1; });
  return objs as KubeObject[];
}

export function runTranslate(rounds: number, routes = 5000, namespaces = 500, gateways = 50): { fullMs: number; changeMs: number; routes: number } {
  const full: number[] = [];
  const change: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const objs = objects(routes, namespaces, gateways);
    const opts = { now: '2026-01-01T00:00:00Z' };
    let t0 = performance.now();
    const first = translate(buildSnapshot(objs, 1), opts);
    full.push(performance.now() - t0);
    // One route changes: a new path on route 0.
    const changed = objs.map((o) => (o.kind === 'HTTPRoute' && o.metadata.name === 'route-0' ? structuredClone(o) : o));
    const r0: any = changed.find((o) => o.kind === 'HTTPRoute' && o.metadata.name === 'route-0');
    r0.spec.rules[0].matches[0].path.value = '/changed';
    r0.metadata.generation = 2;
    const previous = new Map(first.statuses.map((s) => [s.key, s.status]));
    t0 = performance.now();
    translate(buildSnapshot(changed, 2), { ...opts, previous });
    change.push(performance.now() - t0);
  }
  return { fullMs: median(full), changeMs: median(change), routes };
}

export function printTranslate(r: { fullMs: number; changeMs: number; routes: number }): string {
  return `\n### translate(): ${r.routes} HTTPRoutes, 500 namespaces, 50 Gateways\n\n` + table(
    ['measure', 'ms (median)', 'target ms'],
    [['full translation', fmt(r.fullMs), 300], ['one-route change', fmt(r.changeMs), 20]],
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(printTranslate(runTranslate(5)));
}
