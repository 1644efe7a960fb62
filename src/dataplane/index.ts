// The data plane's entry point: compiles an IR into lookup tables and listeners and swaps it in
// atomically. apply() resolves once the new generation is live in every worker, and only then
// may status say Programmed for it.
import type { IR } from '../ir/types.ts';
import { availableParallelism } from 'node:os';
import { Engine } from './engine.ts';
import { createWorkerPool } from './workers.ts';

export interface DataPlaneOptions {
  /** Address bound by gateways without spec.addresses. Default "0.0.0.0". */
  bindAddress?: string;
  /** Number of worker processes; default: one per core. 0 runs in-process (tests, single core). */
  workers?: number;
  /** JSON access log line per request to stdout. */
  accessLog?: boolean;
  /** Adds a response header naming the route and rule that served the request. */
  debugHeaders?: boolean;
  /**
   * How long a client may take to send its request headers (and a new connection to send its
   * first bytes) before the connection is closed: slow clients must not hold sockets forever.
   * Default 60 000 ms.
   */
  clientHeaderTimeoutMs?: number;
  /**
   * How long an HTTP/1.1 client may leave its request body without sending a byte (as nginx's
   * client_body_timeout) before it is answered 408 (if no response started), its connection
   * closed and the upstream request aborted. 0 turns it off. Default 60 000 ms.
   */
  clientBodyTimeoutMs?: number;
  /**
   * How long a worker process may take to answer an apply (or a metrics request) before it is
   * taken for stuck, killed and replaced: one hung worker must not hold back every generation
   * after it. Default 30 000 ms.
   */
  workerAnswerTimeoutMs?: number;
}

export interface ApplyResult {
  generation: number;
  /** Listeners that could not be bound ("address:port" → error message), for status. */
  bindErrors: Record<string, string>;
}

export interface DataPlane {
  apply(ir: IR): Promise<ApplyResult>;
  /** Prometheus text exposition of the data plane's metrics. */
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export async function createDataPlane(options: DataPlaneOptions = {}): Promise<DataPlane> {
  // One core gains nothing from workers (measured: a loss), so the default is in-process there.
  const workers = options.workers ?? (availableParallelism() > 1 ? availableParallelism() : 0);
  if (workers > 0) return createWorkerPool(options, workers);
  const engine = new Engine(options);
  return {
    apply: (ir) => engine.apply(ir),
    metrics: async () => engine.metricsText(),
    close: () => engine.close(),
  };
}
