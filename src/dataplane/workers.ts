// Multi-process data plane: node:cluster workers, each running its own Engine on the listening
// sockets they share (the primary owns the handles). Every worker receives every generation;
// apply() resolves when all of them run it. A worker that dies is replaced and handed the
// latest IR, so a crash costs capacity for a moment, never configuration.
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

interface Pending {
  waiting: Set<number>;
  results: ApplyResult[];
  errors: string[];
  done: (v: unknown) => void;
  kind: 'apply' | 'metrics';
  texts: string[];
}

export async function createWorkerPool(options: DataPlaneOptions, count: number): Promise<DataPlane> {
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./worker.ts', import.meta.url)),
    args: [JSON.stringify({ bindAddress: options.bindAddress, accessLog: options.accessLog, debugHeaders: options.debugHeaders, clientHeaderTimeoutMs: options.clientHeaderTimeoutMs })],
  });
  const workers = new Map<number, Worker>();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let lastIR: IR | undefined;
  let closing = false;
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
    p.done(undefined);
  };

  const spawn = (): Promise<Worker> => new Promise((resolve) => {
    const w = cluster.fork();
    workers.set(w.id, w);
    w.on('message', (m: FromWorker) => {
      if (m.type === 'portico:ready') {
        resolve(w);
        return;
      }
      const p = pending.get(m.id);
      if (p === undefined) return;
      if (m.type === 'portico:applied') {
        if (m.result) p.results.push(m.result);
        if (m.error) {
          p.errors.push(m.error);
          holdings.delete(w.id); // it forgot every part: send it everything next time
        }
      } else {
        p.texts.push(m.text);
      }
      p.waiting.delete(w.id);
      settle(p, m.id);
    });
    w.on('exit', () => {
      workers.delete(w.id);
      holdings.delete(w.id);
      for (const [id, p] of pending) { p.waiting.delete(w.id); settle(p, id); }
      if (closing) return;
      // Replace the dead worker and bring it to the live generation.
      void spawn().then((nw) => { if (lastIR) nw.send(applyMessage(nw, 0, lastIR)); });
    });
  });

  await Promise.all(Array.from({ length: count }, spawn));

  const broadcast = (make: (id: number, w: Worker) => ToWorker, kind: 'apply' | 'metrics'): Promise<Pending> => {
    const id = nextId++;
    return new Promise((resolve) => {
      const p: Pending = { waiting: new Set(workers.keys()), results: [], errors: [], texts: [], kind, done: () => resolve(p) };
      pending.set(id, p);
      for (const w of workers.values()) w.send(make(id, w));
      settle(p, id);
    });
  };

  return {
    async apply(ir) {
      lastIR = ir;
      const p = await broadcast((id, w) => applyMessage(w, id, ir), 'apply');
      if (p.errors.length > 0 && p.results.length === 0) throw new Error(p.errors[0]);
      const bindErrors: Record<string, string> = {};
      for (const r of p.results) Object.assign(bindErrors, r.bindErrors);
      return { generation: ir.generation, bindErrors };
    },
    async metrics() {
      const p = await broadcast((id) => ({ type: 'portico:metrics', id }), 'metrics');
      return mergeExpositions(p.texts);
    },
    async close() {
      closing = true;
      await Promise.all([...workers.values()].map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
        w.kill();
      })));
    },
  };
}
