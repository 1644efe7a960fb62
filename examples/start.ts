// `npm start`: the bundled example, end to end. Launches one echo backend per EndpointSlice
// address of examples/manifests (each prints who answered), then `portico run -f
// examples/manifests`, and stops everything cleanly on Ctrl-C / SIGTERM. The children run in
// their own process groups, so that Ctrl-C reaches only this script, which then stops each of
// them once with SIGTERM (a terminal's SIGINT plus our SIGTERM would count as two signals).
//
//   node examples/start.ts [--manifests DIR] [portico run options…]
//
// Extra options go to `portico run` (e.g. --admin-address 127.0.0.1:0 --workers 0).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadSnapshot } from '../src/providers/files/index.ts';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
let manifests = join(import.meta.dirname, 'manifests');
const i = args.indexOf('--manifests');
if (i >= 0) {
  manifests = args[i + 1] ?? manifests;
  args.splice(i, 2);
}

/** The backends the manifests point at: [service, port] for each local EndpointSlice endpoint. */
async function localBackends(): Promise<[string, number][]> {
  const { snapshot } = await loadSnapshot([manifests]);
  const out: [string, number][] = [];
  for (const slice of snapshot.objects.get('EndpointSlice')?.values() ?? []) {
    const s = slice as unknown as { metadata: { namespace: string; labels?: Record<string, string> }; endpoints?: { addresses?: string[] }[]; ports?: { port?: number }[] };
    const service = `${s.metadata.namespace}/${s.metadata.labels?.['kubernetes.io/service-name'] ?? '?'}`;
    const local = (s.endpoints ?? []).some((e) => (e.addresses ?? []).includes('127.0.0.1'));
    for (const p of s.ports ?? []) if (local && p.port) out.push([service, p.port]);
  }
  return out.sort((a, b) => a[1] - b[1]);
}

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  let left = children.filter((c) => c.exitCode === null && c.signalCode === null).length;
  if (left === 0) process.exit(code);
  const done = () => { if (--left === 0) process.exit(code); };
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.once('exit', done);
    c.kill('SIGTERM');
  }
  setTimeout(() => process.exit(code), 10_000).unref();
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stopAll(0));

for (const [service, port] of await localBackends()) {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'backends', 'echo.ts'), service, String(port)], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  children.push(child);
}

const portico = spawn(process.execPath, [join(root, 'src', 'cli', 'main.ts'), 'run', '-f', manifests, ...args], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
children.push(portico);
portico.on('exit', (code) => stopAll(code ?? 1));
