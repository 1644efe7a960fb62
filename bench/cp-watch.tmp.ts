// in-process watch-mode loop (not committed): write a file → controller applied
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Session } from 'node:inspector/promises';
import { scaleManifests, route } from './lib/manifests.ts';
import { FileProvider } from '../src/providers/files/index.ts';
import { createDataPlane } from '../src/dataplane/index.ts';
import { Controller } from '../src/cli/controller.ts';
import { freePortRange } from './lib/targets.ts';
const n = Number(process.argv[2] ?? 5000), changes = Number(process.argv[3] ?? 30);
const dir = mkdtempSync(join(tmpdir(), 'cpw-'));
const gateways = Math.min(50, Math.max(1, Math.floor(n / 100)));
const basePort = await freePortRange(gateways);
for (const [name, text] of scaleManifests({ routes: n, namespaces: Math.max(1, Math.floor(n / 10)), gateways, basePort, backendPort: 9 })) writeFileSync(join(dir, name), text);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const dp = await createDataPlane({ workers: Number(process.env.WORKERS ?? 0), bindAddress: '127.0.0.1' });
let live = 0; let wake = () => {};
const orig = dp.apply; dp.apply = async (ir) => { const r = await orig(ir); live = ir.generation; wake(); return r; };
const ctl = new Controller({ dataPlane: dp, log: () => {} });
const p = new FileProvider({ paths: [dir], log: () => {} });
const c0 = cpu(), w0 = performance.now();
await p.reload();
p.watch((s) => ctl.update(s));
ctl.update(p.snapshot());
await ctl.firstApplied;
console.log(`cold: cpu ${(cpu() - c0).toFixed(0)} wall ${(performance.now() - w0).toFixed(0)} ms`);
await new Promise((r) => setTimeout(r, 2500));
if (global.gc) global.gc();
const mu = process.memoryUsage(); console.log(`mem rss ${(mu.rss / 1048576).toFixed(0)} heap ${(mu.heapUsed / 1048576).toFixed(0)} ext ${(mu.external / 1048576).toFixed(0)}`);
const sess = new Session(); sess.connect();
if (process.env.PROF) { await sess.post('Profiler.enable'); await sess.post('Profiler.setSamplingInterval', { interval: 200 }); await sess.post('Profiler.start'); }
const times: number[] = []; const c1 = cpu();
for (let i = 0; i < changes; i++) {
  const target = p.snapshot().generation + 1;
  const t = performance.now();
  writeFileSync(join(dir, `new-${i}.yaml`), stringify(route(1_000_000 + i, 'ns-0', 'gw-0', `new-${i}.example.com`)));
  await new Promise<void>((res) => { wake = () => { if (live >= target) res(); }; });
  times.push(performance.now() - t);
  await new Promise((r) => setTimeout(r, 20));
}
const cpuPer = (cpu() - c1) / changes;
if (process.env.PROF) { const { profile } = await sess.post('Profiler.stop'); (await import('node:fs')).writeFileSync(process.env.PROF, JSON.stringify(profile)); }
times.sort((a, b) => a - b);
console.log(`write→applied p50 ${times[Math.floor(times.length / 2)].toFixed(1)} p90 ${times[Math.floor(times.length * 0.9)].toFixed(1)} max ${times.at(-1)!.toFixed(1)} ms; cpu/change ${cpuPer.toFixed(1)} ms (incl. 20 ms idle)`);
await dp.close(); p.close();
