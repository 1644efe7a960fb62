// Runs wrk and h2load and parses what they print.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  return unit === 'us' ? v / 1000 : unit === 's' ? v * 1000 : unit === 'm' ? v * 60000 : v;
}

/** wrk against a URL (http or https); `headers` as "Name: value", e.g. "Connection: close" for a new connection per request. */
export async function wrk(url: string, opts: { connections: number; seconds: number; threads?: number; cpus?: string; headers?: string[] }): Promise<LoadResult> {
  const args = ['-t', String(opts.threads ?? 1), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', ...(opts.headers ?? []).flatMap((h) => ['-H', h]), url];
  const [file, argv] = opts.cpus ? ['taskset', ['-c', opts.cpus, 'wrk', ...args]] : ['wrk', args];
  const { stdout } = await run(file, argv, { maxBuffer: 1 << 20 });
  const lat = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)`, 'm').exec(stdout);
    return m ? toMs(m[1], m[2]) : NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const sockErrors = sock ? Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]) : 0;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0),
    p50Ms: lat('50'),
    p99Ms: lat('99'),
    requests,
    errors: non2xx + sockErrors,
  };
}

/**
 * h2load against a URL: https negotiates h2 by ALPN, http is h2c with prior knowledge. `data`
 * makes every request a POST of that file's bytes (e.g. a gRPC-framed message).
 */
export async function h2load(url: string, opts: { connections: number; streams: number; seconds: number; cpus?: string; headers?: string[]; data?: string }): Promise<LoadResult> {
  const args = ['-c', String(opts.connections), '-m', String(opts.streams), '-D', String(opts.seconds),
    ...(opts.headers ?? []).flatMap((h) => ['-H', h]), ...(opts.data ? ['-d', opts.data] : []), url];
  const [file, argv] = opts.cpus ? ['taskset', ['-c', opts.cpus, 'h2load', ...args]] : ['h2load', args];
  const { stdout } = await run(file, argv, { maxBuffer: 1 << 20 });
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  const timeLine = /time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/.exec(stdout);
  return {
    rps: Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? 0),
    // h2load prints min/max/mean; it has no percentiles: report the mean as p50 and the max as p99 (an upper bound).
    p50Ms: timeLine ? toMs(timeLine[5], timeLine[6]) : NaN,
    p99Ms: timeLine ? toMs(timeLine[3], timeLine[4]) : NaN,
    requests: reqs ? Number(reqs[4]) : 0,
    errors: reqs ? Number(reqs[5]) + Number(reqs[6]) : 0,
  };
}
