// Process helpers for benchmarks: start a process, wait for a port, read its CPU time.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

export interface Started {
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Spawns a command, optionally pinned to CPUs with taskset, in its own process group. Output is
 * dropped, shown (quiet: false), or appended to `logFile` (to explain a failure afterwards).
 */
export function start(cmd: string, args: string[], opts: { cpus?: string; env?: NodeJS.ProcessEnv; quiet?: boolean; logFile?: string } = {}): Started {
  const [file, argv] = opts.cpus ? ['taskset', ['-c', opts.cpus, cmd, ...args]] : [cmd, args];
  const log = opts.logFile ? openSync(opts.logFile, 'a') : undefined;
  const child = spawn(file, argv, {
    detached: true,
    env: { ...process.env, ...opts.env },
    stdio: log !== undefined ? ['ignore', log, log] : opts.quiet === false ? 'inherit' : 'ignore',
  });
  if (log !== undefined) closeSync(log);
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        try { process.kill(-child.pid!, 'SIGTERM'); } catch { resolve(); }
        setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
      }),
  };
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
}

/** All pids of a process tree (the process and its descendants), from /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch { /* exited */ }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** User and system CPU seconds consumed so far by a process tree (live processes only). */
export function cpuSeconds(root: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      user += Number(fields[11]) / CLOCK_TICKS; // utime
      system += Number(fields[12]) / CLOCK_TICKS; // stime
    } catch { /* exited */ }
  }
  return { user, system };
}

/** Resident memory of a process tree in bytes. */
export function rssBytes(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch { /* exited */ }
  }
  return total;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
