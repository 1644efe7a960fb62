// ListenerSets at scale, in file mode: many ListenerSets (one HTTP listener each, a hostname of
// their own on their Gateway's port) carrying many HTTPRoutes. Time to converge from the start
// of the process: to /readyz 200, and to every ListenerSet Accepted=True in the admin /status;
// a route behind the last ListenerSet answered through the data plane; resident memory at rest.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, rssBytes, waitForPort } from './lib/proc.ts';
import { listenerSetHost, listenerSetManifests } from './lib/manifests.ts';
import { fmt, table } from './lib/stats.ts';
import { explainPortico, freePortRange, probe, startHttpBackend, waitForReady } from './lib/targets.ts';
import { spawnPorticoCached } from './control-plane.ts';
import { MAX_LISTENERS_PER_GATEWAY } from '../src/translate/listenerset.ts';

export interface ListenerSetFigure {
  listenerSets: number;
  routes: number;
  gateways: number;
  readyMs: number;
  acceptedMs: number;
  accepted: number;
  firstRequestMs: number;
  rssMB: number;
}

/** How many ListenerSets /status shows with Accepted=True. */
async function acceptedListenerSets(admin: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${admin}/status`);
  const list = (await res.json()) as { items?: { kind: string; status?: { conditions?: { type: string; status: string }[] } }[] };
  return (list.items ?? []).filter((o) => o.kind === 'ListenerSet' && o.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True')).length;
}

export async function runListenerSets(opts: { listenerSets: number; routes: number; timeoutMs?: number }): Promise<ListenerSetFigure> {
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const dir = mkdtempSync(join(tmpdir(), `portico-ls-${opts.listenerSets}-`));
  const be = await startHttpBackend();
  // Portico serves at most 64 listeners per Gateway, its own included (translate/listenerset.ts):
  // 63 ListenerSets of one listener each per Gateway.
  const gateways = Math.max(1, Math.ceil(opts.listenerSets / (MAX_LISTENERS_PER_GATEWAY - 1)));
  const basePort = await freePortRange(gateways);
  const spec = { listenerSets: opts.listenerSets, routes: opts.routes, gateways, namespaces: Math.max(1, Math.floor(opts.listenerSets / 10)), basePort, backendPort: be.port };
  for (const [name, text] of listenerSetManifests(spec)) writeFileSync(join(dir, name), text);
  const admin = await freePort();
  const t0 = performance.now();
  const log = join(dir, 'portico.log');
  const portico = spawnPorticoCached(dir, admin, undefined, log);
  try {
    await waitForReady(admin, timeoutMs);
    const readyMs = performance.now() - t0;
    let accepted = 0;
    while ((accepted = await acceptedListenerSets(admin)) < opts.listenerSets) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`only ${accepted} of ${opts.listenerSets} ListenerSets Accepted after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const acceptedMs = performance.now() - t0;
    // The last route sits on the last ListenerSet that has one: it must answer through its Gateway's port.
    const last = opts.routes - 1;
    const ls = last % opts.listenerSets;
    await waitForPort(basePort + (ls % gateways));
    while ((await probe(basePort + (ls % gateways), listenerSetHost(ls), `/r${last}`)) !== 200) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`route ${last} behind ListenerSet ls-${ls} does not answer 200`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const firstRequestMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2000));
    const rssMB = rssBytes(portico.child.pid!) / 1048576;
    return { listenerSets: opts.listenerSets, routes: opts.routes, gateways, readyMs, acceptedMs, accepted, firstRequestMs, rssMB };
  } catch (e) {
    throw await explainPortico(e, admin, log);
  } finally {
    await portico.stop();
    await be.stop();
  }
}

export function printListenerSets(figs: ListenerSetFigure[]): string {
  return '\n### ListenerSets at scale, file mode (one HTTP listener per ListenerSet, routes attached to ListenerSets)\n\n' + table(
    ['ListenerSets', 'routes', 'Gateways', 'start → /readyz ms', 'start → all Accepted ms', 'start → last route 200 ms', 'RSS MB at rest'],
    figs.map((f) => [f.listenerSets, f.routes, f.gateways, fmt(f.readyMs), fmt(f.acceptedMs), fmt(f.firstRequestMs), fmt(f.rssMB)]),
  );
}
