// Helpers for tests that run the real `portico` command as a child process.
import { spawn } from 'node:child_process';
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export const ROOT = join(import.meta.dirname, '..');
export const NODE = join(ROOT, 'node_modules', '.bin', 'node');
export const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `portico ARGS…` to completion. */
export function portico(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [MAIN, ...args], { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`portico ${args.join(' ')} timed out\n${stderr}`)); }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Waits until the child's stderr contains a line matching re; returns the match. */
export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer | string) => {
      seen += d.toString();
      const m = seen.match(re);
      if (m) { cleanup(); resolve(m); }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`exited with ${code} before printing ${re}:\n${seen}`)); };
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${re} within ${timeoutMs} ms:\n${seen}`)); }, timeoutMs);
    const cleanup = () => { clearTimeout(timer); child.stderr?.off('data', onData); child.off('exit', onExit); };
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

/** Polls fn until it returns a value other than undefined. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Stops a child with SIGTERM and resolves with its exit code (SIGKILL after 10 s). */
export function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
    child.kill('SIGTERM');
  });
}

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'portico-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Running {
  child: ChildProcessByStdio<null, null, Readable>;
  /** Base URL of the admin API, e.g. http://127.0.0.1:PORT. */
  admin: string;
  /** Everything the process printed on stderr so far. */
  stderr(): string;
}

/**
 * Starts `portico run -f DIR` on loopback (admin API on an ephemeral port, no workers, no access
 * log), stopped when the test ends; resolves once the admin API is listening.
 */
export async function startRun(t: { after: (fn: () => unknown) => void }, dir: string): Promise<Running> {
  const child = spawn(NODE, [MAIN, 'run', '-f', dir, '--admin-address', '127.0.0.1:0', '--bind-address', '127.0.0.1', '--workers', '0', '--no-access-log'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => stop(child));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const [, admin] = await waitForOutput(child, /admin API on (http:\/\/\S+)/);
  return { child, admin: admin!, stderr: () => stderr };
}

/** Waits until the admin API at `admin` answers /readyz with 200: the first configuration is live. */
export async function waitReady(admin: string, timeoutMs = 20_000): Promise<void> {
  await eventually(async () => ((await fetch(`${admin}/readyz`)).status === 200 ? true : undefined), timeoutMs, '/readyz 200');
}

/** The admin API's /status document (a List of the objects with their status). */
export async function adminStatus<T>(admin: string): Promise<{ kind: string; items: T[] }> {
  return await (await fetch(`${admin}/status`)).json() as { kind: string; items: T[] };
}
