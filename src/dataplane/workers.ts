// Multi-process data plane: node:cluster workers, each running its own Engine on the listening
// sockets they share (the primary owns the handles). Every worker receives every generation, and
// apply() resolves only when every current worker runs it ("all workers switch to a generation
// before it counts as live"): a worker that failed to apply it is sent it again in full, a worker
// that died meanwhile is replaced and its replacement brought to it first. If that cannot be
// done, apply() rejects, so status never says Programmed for a generation some worker lacks.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { IR } from '../ir/types.ts';
import type { ApplyResult, DataPlane, DataPlaneOptions } from './index.ts';
import { mergeExpositions } from './metrics.ts';
import { WireEncoder, type WireIR } from './ir-wire.ts';

export type ToWorker =
  | { type: 'portico:apply'; id: number; ir: WireIR }
  | { type: 'portico:metrics'; id: number };

export type FromWorker =
  | { type: 'portico:ready' }
  | { type: 'portico:applied'; id: number; result?: ApplyResult; error?: string }
  | { type: 'portico:metrics'; id: number; text: string };

/**
 * Rounds of one apply(): sending to the workers that do not run the generation yet. Round two
 * resends in full to a worker that failed (its parts were out of step); more rounds only follow
 * replacements of workers that died. A worker failing twice, or all failing at once, rejects.
 */
const MAX_APPLY_ROUNDS = 5;
/** A worker that exits sooner than this after it started counts as crash-looping. */
const SHORT_LIFE_MS = 5_000;
/** Delay before replacing a crash-looping worker: doubles from the first to the last. */
const RESPAWN_BACKOFF_MS = [0, 100, 2_000] as const;
/** Default of DataPlaneOptions.workerAnswerTimeoutMs. */
const ANSWER_TIMEOUT_MS = 30_000;

/** One message sent to some workers, waiting for each one's answer (or its exit). */
interface Pending {
  waiting: Set<number>;
  /** The generation an apply message carries: the worker runs it once it answers without error. */
  ir?: IR;
  results: Map<number, ApplyResult>;
  errors: Map<number, string>;
  texts: string[];
  done: () => void;
}

export async function createWorkerPool(options: DataPlaneOptions, count: number): Promise<DataPlane> {
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./worker.ts', import.meta.url)),
    args: [JSON.stringify({ bindAddress: options.bindAddress, accessLog: options.accessLog, debugHeaders: options.debugHeaders, clientHeaderTimeoutMs: options.clientHeaderTimeoutMs, clientBodyTimeoutMs: options.clientBodyTimeoutMs })],
  });
  /** Workers that are ready (replacements join once they run the latest generation, or failed to). */
  const workers = new Map<number, Worker>();
  /** Replacements being started and brought to the latest generation. */
  const starting = new Set<Promise<void>>();
  /** The generation each worker runs and what its apply reported, by worker id. */
  const runs = new Map<number, { ir: IR; result: ApplyResult }>();
  /** Every worker this pool forked and that has not exited yet. */
  const alive = new Set<Worker>();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let lastIR: IR | undefined;
  let closing = false;
  let queue: Promise<unknown> = Promise.resolve();
  /** Workers that exited so far, and the current delay before replacing the next one. */
  let deaths = 0;
  let backoff: number = RESPAWN_BACKOFF_MS[0];
  const encoder = new WireEncoder();
  /** The configuration parts each worker holds (see ir-wire.ts), by worker id. */
  const holdings = new Map<number, Set<number>>();
  const applyMessage = (w: Worker, id: number, ir: IR): ToWorker => {
    const { wire, holds } = encoder.encode(ir, holdings.get(w.id) ?? new Set());
    holdings.set(w.id, holds);
    return { type: 'portico:apply', id, ir: wire };
  };

  const settle = (p: Pending, id: number) => {
    if (p.waiting.size > 0) return;
    pending.delete(id);
    p.done();
  };

  /**
   * Sends one message to each of `targets`; resolves when each answered or exited. A worker that
   * has not answered in time is stuck (a stopped process, a busy loop): it is killed, its exit
   * counts as its answer and starts its replacement.
   */
  const send = (targets: Worker[], make: (id: number, w: Worker) => ToWorker, ir?: IR): Promise<Pending> => {
    const id = nextId++;
    return new Promise((resolve) => {
      const stuck = setTimeout(() => {
        for (const w of targets) if (p.waiting.has(w.id)) w.process.kill('SIGKILL');
      }, options.workerAnswerTimeoutMs ?? ANSWER_TIMEOUT_MS);
      stuck.unref();
      const p: Pending = { waiting: new Set(targets.map((w) => w.id)), ir, results: new Map(), errors: new Map(), texts: [], done: () => { clearTimeout(stuck); resolve(p); } };
      pending.set(id, p);
      for (const w of targets) w.send(make(id, w));
      settle(p, id);
    });
  };

  const onMessage = (w: Worker, m: FromWorker) => {
    if (m.type === 'portico:ready') return;
    const p = pending.get(m.id);
    if (p === undefined || !p.waiting.has(w.id)) return;
    if (m.type === 'portico:applied') {
      if (m.error !== undefined) {
        p.errors.set(w.id, m.error);
        holdings.delete(w.id); // it forgot every part: send it everything next time
      } else if (m.result !== undefined) {
        p.results.set(w.id, m.result);
        if (p.ir !== undefined) runs.set(w.id, { ir: p.ir, result: m.result });
      }
    } else {
      p.texts.push(m.text);
    }
    p.waiting.delete(w.id);
    settle(p, m.id);
  };

  const spawn = (): Promise<Worker> => new Promise((resolve) => {
    const w = cluster.fork();
    const born = Date.now();
    alive.add(w);
    w.on('error', () => {}); // a message to a worker that just died: its exit handles it
    w.on('message', (m: FromWorker) => {
      if (m.type === 'portico:ready') resolve(w);
      else onMessage(w, m);
    });
    w.on('exit', () => {
      deaths++;
      // Workers dying right after they started (a generation that crashes them, a broken
      // machine) are replaced more and more slowly rather than forked in a tight loop.
      backoff = Date.now() - born >= SHORT_LIFE_MS ? RESPAWN_BACKOFF_MS[0]
        : Math.min(RESPAWN_BACKOFF_MS[2], Math.max(RESPAWN_BACKOFF_MS[1], backoff * 2));
      alive.delete(w);
      workers.delete(w.id);
      holdings.delete(w.id);
      runs.delete(w.id);
      // The replacement is registered before any apply waiting for this worker resumes, so that
      // apply waits for it too.
      if (!closing) replace();
      for (const [id, p] of pending) { p.waiting.delete(w.id); settle(p, id); }
      resolve(w); // died before it was ready: whoever waits for it sees it dead
    });
  });

  /** Starts a worker and brings it to the latest generation before it counts as current. */
  const replace = () => {
    const delay = backoff;
    const started: Promise<void> = new Promise((r) => setTimeout(r, delay).unref()).then(() => {
      if (closing) return undefined;
      return spawn();
    }).then(async (nw) => {
      if (nw === undefined || nw.isDead()) return; // died already: its exit started another replacement
      if (lastIR !== undefined) await send([nw], (id) => applyMessage(nw, id, lastIR!), lastIR);
      if (nw.isDead()) return;
      workers.set(nw.id, nw);
    }).finally(() => starting.delete(started));
    starting.add(started);
  };

  for (const w of await Promise.all(Array.from({ length: count }, spawn))) if (!w.isDead()) workers.set(w.id, w);

  const applyNow = async (ir: IR): Promise<ApplyResult> => {
    lastIR = ir;
    const failures = new Map<number, number>();
    const deathsBefore = deaths;
    const dying = () => deaths - deathsBefore > 2 * count;
    for (let round = 1; ; round++) {
      while (starting.size > 0 && !dying()) await Promise.all(starting);
      if (dying()) throw new Error(`generation ${ir.generation}: workers keep dying while it is applied`);
      const behind = [...workers.values()].filter((w) => runs.get(w.id)?.ir !== ir);
      if (behind.length === 0) break;
      if (round > MAX_APPLY_ROUNDS) throw new Error(`generation ${ir.generation}: workers kept failing or dying while it was applied`);
      const p = await send(behind, (id, w) => applyMessage(w, id, ir), ir);
      if (p.errors.size > 0 && p.errors.size === behind.length && p.results.size === 0) {
        throw new Error([...p.errors.values()][0]);
      }
      for (const [wid, error] of p.errors) {
        const n = (failures.get(wid) ?? 0) + 1;
        failures.set(wid, n);
        if (n >= 2) throw new Error(`a worker could not apply generation ${ir.generation}: ${error}`);
      }
    }
    const bindErrors: Record<string, string> = {};
    for (const wid of workers.keys()) Object.assign(bindErrors, runs.get(wid)?.result.bindErrors);
    return { generation: ir.generation, bindErrors };
  };

  /** The last generation every worker ran: what a rejected generation rolls back to. */
  let liveIR: IR | undefined;
  /**
   * A rejected generation may have reached some workers (the others died or failed): they go back
   * to the last generation every worker ran, as the in-process engine keeps its previous
   * configuration when an apply fails, and replacements are brought to that one, not to the
   * rejected one (which may be what kills them). Best effort: if that fails too, the next
   * generation tries again.
   */
  const rollBack = async () => {
    if (liveIR === undefined || closing) return;
    await applyNow(liveIR).catch(() => {});
  };

  return {
    /**
     * Applies are serialized: each one waits for the previous one to be live, or to fail and be
     * rolled back.
     */
    apply(ir) {
      const run = queue.then(() => applyNow(ir));
      run.then(() => { liveIR = ir; }, () => {});
      queue = run.catch(rollBack);
      return run;
    },
    async metrics() {
      const p = await send([...workers.values()], (id) => ({ type: 'portico:metrics', id }));
      return mergeExpositions(p.texts);
    },
    async close() {
      closing = true; // no more replacements; those starting are among `alive`
      await Promise.all([...alive].map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
        w.kill();
      })));
    },
  };
}
