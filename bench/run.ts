// `npm run bench [-- --quick] [-- --only http,translate]`: runs the benchmarks, prints one table
// per scenario, and (with --quick) fails when a ratio fell more than 20 % below the recorded one.
// Never run by the test command: timings belong here, not in tests.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { NGINX_STREAM_MODULE } from './proxies/configs.ts';
import { parseArgs } from 'node:util';
import { ALL_TARGETS, printHttp, runHttp, type HttpCase } from './http.ts';
import { httpsRatios, printHttps, runHttps } from './https.ts';
import { h2Ratios, printH2, runH2 } from './h2.ts';
import { grpcRatios, printGrpc, runGrpc } from './grpc.ts';
import { l4Ratios, printL4, runL4 } from './l4.ts';
import { printListenerSets, runListenerSets } from './listenerset.ts';
import { porticoRatios } from './lib/compare.ts';
import { printTranslate, runTranslate } from './translate.ts';
import { printControlPlane, runControlPlane, type ControlPlaneFigure } from './control-plane.ts';
import { runControlPlaneKube } from './control-plane-k8s.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    record: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
  },
});

const RECORD = new URL('./results/recorded.json', import.meta.url).pathname;
const only = values.only ? new Set(values.only.split(',')) : undefined;
const wants = (s: string) => !only || only.has(s);

function ensureTools(): void {
  const missing = [['wrk', 'wrk'], ['nginx', 'nginx-light'], ['haproxy', 'haproxy'], ['h2load', 'nghttp2-client'], ['taskset', 'util-linux'], ['openssl', 'openssl']]
    .filter(([bin]) => { try { execFileSync('sh', ['-c', `command -v ${bin}`]); return false; } catch { return true; } })
    .map(([, pkg]) => pkg);
  // nginx-light has no `stream` (TCP/TLS passthrough): Debian ships it as a dynamic module.
  if (!existsSync(NGINX_STREAM_MODULE)) missing.push('libnginx-mod-stream');
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(' ')} from Debian's packages…`);
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')} >/dev/null`], { stdio: 'inherit' });
}

/** Ratios a regression check compares; higher is better for each. */
type Ratios = Record<string, number>;

async function main(): Promise<void> {
  ensureTools();
  const rounds = Number(values.rounds ?? 3);
  const seconds = Number(values.seconds ?? (values.quick ? 3 : 10));
  const ratios: Ratios = {};
  const report: string[] = [`# Portico benchmarks (${new Date().toISOString()}, ${values.quick ? 'quick' : 'full'})`];

  if (wants('translate')) {
    const t = runTranslate(values.quick ? 3 : 5);
    report.push(printTranslate(t));
    console.log(report.at(-1));
  }

  if (wants('http')) {
    const cases: HttpCase[] = values.quick
      ? [{ connections: 50, path: '/small', pinned: true }]
      : [true, false].flatMap((pinned) => [50, 200].flatMap((connections) => (['/small', '/4k'] as const).map((path) => ({ connections, path, pinned }))));
    const targets = values.quick ? (['direct', 'portico', 'nginx', 'http-proxy'] as const).slice() : ALL_TARGETS;
    const res = await runHttp({ cases, targets, rounds, seconds });
    report.push(printHttp(res));
    console.log(report.at(-1));
    const first = res[0].figures;
    Object.assign(ratios, porticoRatios(first, 'http'));
    const hp = porticoRatios(first, 'http', 'http-proxy')['http.rps_vs_http-proxy'];
    if (hp !== undefined) ratios['http.rps_vs_http_proxy'] = hp;
  }

  // TLS and HTTP/2: HAProxy only in the full run (quick keeps the nginx baseline the ratios use).
  const tlsTargets = values.quick ? (['portico', 'nginx'] as const).slice() : (['portico', 'nginx', 'haproxy'] as const).slice();
  if (wants('https')) {
    const r = await runHttps({ targets: tlsTargets, rounds, seconds });
    report.push(printHttps(r));
    console.log(report.at(-1));
    Object.assign(ratios, httpsRatios(r));
  }

  if (wants('h2')) {
    const r = await runH2({ modes: ['h2', 'h2c'], targets: tlsTargets, rounds, seconds });
    report.push(printH2(r));
    console.log(report.at(-1));
    Object.assign(ratios, h2Ratios(r));
  }

  if (wants('grpc')) {
    const r = await runGrpc({ targets: values.quick ? tlsTargets : ['direct', ...tlsTargets], rounds, seconds });
    report.push(printGrpc(r));
    console.log(report.at(-1));
    Object.assign(ratios, grpcRatios(r));
  }

  if (wants('l4')) {
    const r = await runL4({
      modes: values.quick ? ['tcp'] : ['tcp', 'tls-passthrough'],
      targets: values.quick ? ['portico', 'nginx', 'haproxy'] : ['direct', 'portico', 'nginx', 'haproxy'],
      rounds, mib: values.quick ? 64 : 512, conns: values.quick ? 500 : 4000,
    });
    report.push(printL4(r));
    console.log(report.at(-1));
    Object.assign(ratios, l4Ratios(r));
  }

  if (wants('control-plane')) {
    const figs: ControlPlaneFigure[] = [];
    const notes: string[] = [];
    for (const n of values.quick ? [1000] : [1000, 5000, 20000]) figs.push(await runControlPlane(n, values.quick ? 20 : 100));
    for (const n of values.quick ? [500] : [1000, 5000]) {
      const k = await runControlPlaneKube(n, values.quick ? 10 : 50);
      if (typeof k === 'string') { notes.push(k); break; }
      figs.push(k);
    }
    report.push(printControlPlane(figs, notes));
    console.log(report.at(-1));
  }

  if (wants('listenerset')) {
    const [listenerSets, routes] = values.quick ? [250, 4000] : [2500, 40000];
    report.push(printListenerSets([await runListenerSets({ listenerSets, routes })]));
    console.log(report.at(-1));
  }

  console.log('\nratios (higher is better):', JSON.stringify(ratios, null, 2));
  let failed = false;
  if (existsSync(RECORD)) {
    const recorded: Ratios = JSON.parse(readFileSync(RECORD, 'utf8')).ratios ?? {};
    for (const [k, v] of Object.entries(ratios)) {
      const old = recorded[k];
      if (old !== undefined && v < old * 0.8) {
        console.error(`REGRESSION: ${k} = ${v.toFixed(3)}, recorded ${old.toFixed(3)} (more than 20 % worse)`);
        failed = true;
      }
    }
  }
  if (values.record) {
    mkdirSync(new URL('./results/', import.meta.url).pathname, { recursive: true });
    writeFileSync(RECORD, JSON.stringify({ when: new Date().toISOString(), quick: values.quick, ratios }, null, 2) + '\n');
    console.log(`recorded ratios in ${RECORD}`);
  }
  if (failed) process.exit(1);
}

await main();
