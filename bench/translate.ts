// translate() at scale: 5,000 HTTPRoutes over 500 namespaces and 50 Gateways, a full
// translation and then a one-route change. Targets (issue "Foundation"): < 300 ms and < 20 ms.
// The one-route change is measured with the incremental translator the run loop uses
// (createTranslator()), and with a fresh translate() for reference. Each change is timed from
// the objects to the result, snapshot building included.
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { createTranslator, translate } from '../src/translate/index.ts';
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

export interface TranslateFigure {
  fullMs: number; coldMs: number; changeMs: number; changeFullMs: number; routes: number;
  /** The same, in CPU time of the process (user + system): steadier than wall time on a shared machine. */
  cpu: { fullMs: number; coldMs: number; changeMs: number; changeFullMs: number };
}

/** Wall and CPU milliseconds of fn(). */
function timed<T>(fn: () => T): { value: T; wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wall, cpu: (c.user + c.system) / 1000 };
}

export function runTranslate(rounds: number, routes = 5000, namespaces = 500, gateways = 50): TranslateFigure {
  const full: number[] = [];
  const change: number[] = [];
  const changeFull: number[] = [];
  const cpuFull: number[] = [];
  const cpuChange: number[] = [];
  const cpuChangeFull: number[] = [];
  let coldMs = NaN;
  let coldCpu = NaN;
  for (let r = 0; r < rounds; r++) {
    const objs = objects(routes, namespaces, gateways);
    const opts = { now: '2026-01-01T00:00:00Z' };
    const f = timed(() => translate(buildSnapshot(objs, 1), opts));
    full.push(f.wall);
    cpuFull.push(f.cpu);
    if (r === 0) {
      coldMs = f.wall;
      coldCpu = f.cpu;
    }
    const translator = createTranslator();
    let previous = new Map(translator.translate(buildSnapshot(objs, 1), opts).statuses.map((s) => [s.key, s.status]));
    // One route changes at a time: a new path on route k (a new object, as a provider makes).
    // A dozen changes per translator, as the run loop's long-lived translator sees them.
    let current = objs;
    for (let k = 0; k < 12; k++) {
      const changed = current.map((o) => (o.kind === 'HTTPRoute' && o.metadata.name === `route-${k * 7}` ? structuredClone(o) : o));
      const rk: any = changed.find((o) => o.kind === 'HTTPRoute' && o.metadata.name === `route-${k * 7}`);
      rk.spec.rules[0].matches[0].path.value = `/changed-${r}-${k}`;
      rk.metadata.generation = 2 + k;
      const c = timed(() => translator.translate(buildSnapshot(changed, 2 + k), { ...opts, previous }));
      change.push(c.wall);
      cpuChange.push(c.cpu);
      previous = new Map(c.value.statuses.map((s) => [s.key, s.status]));
      current = changed;
    }
    const prevFull = new Map(f.value.statuses.map((s) => [s.key, s.status]));
    const cf = timed(() => translate(buildSnapshot(current, 2), { ...opts, previous: prevFull }));
    changeFull.push(cf.wall);
    cpuChangeFull.push(cf.cpu);
  }
  return {
    fullMs: median(full), coldMs, changeMs: median(change), changeFullMs: median(changeFull), routes,
    cpu: { fullMs: median(cpuFull), coldMs: coldCpu, changeMs: median(cpuChange), changeFullMs: median(cpuChangeFull) },
  };
}

export function printTranslate(r: TranslateFigure): string {
  return `\n### translate(): ${r.routes} HTTPRoutes, 500 namespaces, 50 Gateways\n\n` + table(
    ['measure', 'ms (median)', 'CPU ms (median)', 'target ms'],
    [
      ['full translation', fmt(r.fullMs), fmt(r.cpu.fullMs), 300],
      ['full translation, first in the process', fmt(r.coldMs), fmt(r.cpu.coldMs), 300],
      ['one-route change (createTranslator)', fmt(r.changeMs), fmt(r.cpu.changeMs), 20],
      ['one-route change, fresh translate()', fmt(r.changeFullMs), fmt(r.cpu.changeFullMs), '-'],
    ],
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(printTranslate(runTranslate(5)));
}
