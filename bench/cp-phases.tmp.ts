// in-process phase timing (not committed)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { scaleManifests, route } from './lib/manifests.ts';
import { FileProvider } from '../src/providers/files/index.ts';
import { createTranslator } from '../src/translate/index.ts';
import { Engine } from '../src/dataplane/engine.ts';
import { freePortRange } from './lib/targets.ts';
const n = Number(process.argv[2] ?? 5000), changes = Number(process.argv[3] ?? 20);
const dir = mkdtempSync(join(tmpdir(), 'cpph-'));
const gateways = Math.min(50, Math.max(1, Math.floor(n / 100)));
const basePort = await freePortRange(gateways);
for (const [name, text] of scaleManifests({ routes: n, namespaces: Math.max(1, Math.floor(n / 10)), gateways, basePort, backendPort: 9 })) writeFileSync(join(dir, name), text);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const p = new FileProvider({ paths: [dir], log: () => {} });
const tr = createTranslator();
const eng = new Engine({ bindAddress: '127.0.0.1' });
const c0 = cpu(), w0 = performance.now();
await p.reload();
const c1 = cpu();
let r = tr.translate(p.snapshot(), { now: '2026-01-01T00:00:00Z', previous: new Map() });
const c2 = cpu();
await eng.apply(r.ir);
const c3 = cpu();
{ let vhs = 0, rts = 0; for (const g of r.ir.gateways) for (const l of g.listeners) for (const vh of l.virtualHosts) { vhs++; rts += vh.routes.length; } console.log('vhosts', vhs, 'routes', rts); }
console.log(`cold: provider ${(c1 - c0).toFixed(0)} translate ${(c2 - c1).toFixed(0)} apply ${(c3 - c2).toFixed(0)} wall ${(performance.now() - w0).toFixed(0)} ms`);
if (global.gc) global.gc();
const mu = process.memoryUsage(); console.log(`mem rss ${(mu.rss / 1048576).toFixed(0)} heap ${(mu.heapUsed / 1048576).toFixed(0)} ext ${(mu.external / 1048576).toFixed(0)}`);
const sums = [0, 0, 0];
import { Session } from 'node:inspector/promises';
const sess = new Session(); sess.connect();
if (process.env.PROF) { await sess.post('Profiler.enable'); await sess.post('Profiler.setSamplingInterval', { interval: 200 }); await sess.post('Profiler.start'); }
await new Promise((res) => setTimeout(res, 2500));
for (let i = 0; i < changes; i++) {
  writeFileSync(join(dir, `new-${i}.yaml`), stringify(route(1_000_000 + i, 'ns-0', 'gw-0', `new-${i}.example.com`)));
  const a = cpu();
  await p.reload();
  const b = cpu();
  r = tr.translate(p.snapshot(), { now: '2026-01-01T00:00:00Z', previous: new Map() });
  const c = cpu();
  await eng.apply(r.ir);
  const d = cpu();
  sums[0] += b - a; sums[1] += c - b; sums[2] += d - c;
}
if (process.env.PROF) { const { profile } = await sess.post('Profiler.stop'); (await import('node:fs')).writeFileSync(process.env.PROF, JSON.stringify(profile)); }
console.log(`per change: provider ${(sums[0] / changes).toFixed(2)} translate ${(sums[1] / changes).toFixed(2)} apply ${(sums[2] / changes).toFixed(2)} ms CPU`);
await eng.close(); p.close();
