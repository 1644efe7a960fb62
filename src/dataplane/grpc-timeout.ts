// The gRPC `grpc-timeout` request header (gRPC over HTTP/2: TimeoutValue = 1 to 8 ASCII digits,
// TimeoutUnit = H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds).
// GRPCRoute calls use it as their deadline (handler.ts); the backend is told the time left.

/** Milliseconds per unit, and units per millisecond for the sub-millisecond ones (divided, so no float error). */
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1 };
const PER_MS: Record<string, number> = { u: 1000, n: 1_000_000 };

/** Longest timer Node keeps (a longer setTimeout fires at once): a deadline beyond it is no deadline. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The deadline in whole milliseconds (a fraction of a millisecond rounds up: a 1 ns budget is
 * still a budget, spent before the backend could answer), or undefined when the header is absent,
 * malformed or too far away to time. 0 means the deadline has already passed.
 */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== 'string' || v.length < 2 || v.length > 9) return undefined;
  const u = v[v.length - 1];
  const mul = UNIT_MS[u];
  const div = PER_MS[u];
  if (mul === undefined && div === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < v.length - 1; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  const ms = mul !== undefined ? n * mul : Math.ceil(n / div);
  return ms > MAX_TIMER_MS ? undefined : ms;
}

/** A grpc-timeout value for `ms` milliseconds left (at least 1 ms, at most 8 digits). */
export function encodeGrpcTimeout(ms: number): string {
  const n = Math.max(1, Math.ceil(ms));
  return n <= 99_999_999 ? `${n}m` : `${Math.ceil(n / 1000)}S`;
}
