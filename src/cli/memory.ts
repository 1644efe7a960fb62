// Giving memory back after heavy work. V8 grows its young generation (up to 2 × 64 MB here)
// while a cold start or a large change allocates long-lived objects quickly, and keeps it
// committed afterwards: at 5,000 routes, 128 MB of a 237 MB resident set was an empty young
// generation. A quiet moment after such work, one memory-reducing collection shrinks it back
// (V8 grows it again when allocation needs it). It costs one pause proportional to the live heap
// (two full collections: ~0.2-0.45 s at 5,000 routes on a busy machine), taken only when the
// young generation is large, nothing has changed for a while, and the heap is small enough that
// the young generation is a large part of the resident set (at 40,000 routes the pause would be
// 1-2 s to save 10 %: not taken).
import v8 from 'node:v8';
import vm from 'node:vm';

/** Young generation size above which a quiet moment is used to shrink it. */
const LARGE_NEW_SPACE = 16 * 1048576;
/** Heap in use above which the shrinking pause is not worth it. */
const MAX_HEAP_USED = 160 * 1048576;

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gcFunction: GcFunction | null | undefined;

/** V8's gc(), without exposing it to the rest of the program (null when unavailable). */
function gcHandle(): GcFunction | null {
  if (gcFunction === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFunction = vm.runInNewContext('gc') as GcFunction;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}

function newSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * Calls `settle()` once nothing was `touch()`ed for `quietMs`: the caller touches it after each
 * piece of heavy work (a translation applied).
 */
export class MemorySettler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly quietMs: number;

  constructor(quietMs = 1000) {
    this.quietMs = quietMs;
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => settleMemory(), this.quietMs);
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
  }
}

/** Shrinks the young generation when it is large. Returns whether it collected. */
export function settleMemory(): boolean {
  if (newSpaceBytes() <= LARGE_NEW_SPACE || process.memoryUsage().heapUsed > MAX_HEAP_USED) return false;
  const gc = gcHandle();
  if (!gc) return false;
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return true;
}
