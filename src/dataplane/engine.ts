// The in-process data plane: compiles each IR, opens and closes listening sockets as ports come
// and go (ports that stay are never touched), and swaps the new generation in atomically.
import type { IR } from '../ir/types.ts';
import type { SecureContext } from 'node:tls';
import type { ApplyResult, DataPlaneOptions } from './index.ts';
import { compile, newCompileCache } from './compile.ts';
import { Metrics } from './metrics.ts';
import { PoolRegistry } from './upstream/pools.ts';
import { PortServer, portKind } from './listeners/server.ts';
import type { Runtime } from './handler.ts';
import { L4Ports, l4StreamPorts, type DelegateFor } from './listeners/l4.ts';

const POOL_GRACE_MS = 30_000;
/** Metric series unused by this many consecutive applies are dropped (at the latest). */
const STALE_SERIES_APPLIES = 20;
/**
 * Stale series are looked for every this many applies, not at each one: a sweep visits every
 * series (0.8 ms at 5,000 routes, as much as the rest of a one-route apply). A series is then
 * dropped after 16 to 20 applies without use.
 */
const PRUNE_EVERY_APPLIES = 5;

export class Engine {
  readonly metrics = new Metrics();
  private readonly pools = new PoolRegistry();
  private readonly servers = new Map<string, PortServer>();
  private readonly l4 = new L4Ports();
  private readonly rt: Runtime;
  private readonly bindAddress: string;
  private tlsCache = new Map<string, SecureContext>();
  /** Compiled routes and backends by IR object, reused by the next applies. */
  private readonly compileCache = newCompileCache();
  private seq = 0;
  /** The apply after which stale metric series were last swept. */
  private sweptSeq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Shared HTTPS+TLS ports: the l4 TLS server hands HTTPS connections to whichever server holds the key now. */
  private readonly delegateFor: DelegateFor = (key) => (_listener, socket) => {
    const server = this.servers.get(key);
    if (server !== undefined) server.accept(socket);
    else socket.destroy();
  };

  constructor(options: DataPlaneOptions) {
    this.bindAddress = options.bindAddress ?? '0.0.0.0';
    this.rt = {
      metrics: this.metrics,
      accessLog: options.accessLog === true,
      debugHeaders: options.debugHeaders === true,
      clientHeaderTimeoutMs: options.clientHeaderTimeoutMs ?? 60_000,
      clientBodyTimeoutMs: options.clientBodyTimeoutMs ?? 60_000,
    };
  }

  /** Applies are serialized: each one starts from the state the previous one left. */
  apply(ir: IR): Promise<ApplyResult> {
    const run = this.queue.then(() => this.applyNow(ir));
    this.queue = run.catch(() => {});
    return run;
  }

  private async applyNow(ir: IR): Promise<ApplyResult> {
    const seq = ++this.seq;
    this.metrics.seq = seq;
    const tlsUsed = new Map<string, SecureContext>();
    let gen;
    try {
      const markSeries = seq % PRUNE_EVERY_APPLIES === 0;
      gen = compile(ir, {
        bindAddress: this.bindAddress, pools: this.pools, metrics: this.metrics, tlsCache: this.tlsCache, tlsUsed, seq, cache: this.compileCache,
        markSeries, sweptSeq: this.sweptSeq,
      });
    } catch (err) {
      this.metrics.reloadErrors++;
      throw err;
    }
    this.tlsCache = tlsUsed;
    const l4Ports = l4StreamPorts(ir, this.bindAddress);
    const ownSockets: string[] = [];
    for (const [key, cfg] of gen.ports) {
      if (cfg.protocol === 'HTTPS' && l4Ports.get(key) === 'TLS') cfg.sharedWithTls = true;
      else ownSockets.push(key);
    }
    // A port the l4 module held that an HTTP(S) server now binds itself: free it first.
    let freed = this.l4.release(ownSockets);
    // And the reverse: a port an HTTP(S) server held that the l4 module now binds.
    for (const key of l4Ports.keys()) {
      const server = this.servers.get(key);
      if (server === undefined || gen.ports.has(key)) continue;
      this.servers.delete(key);
      void server.close();
      freed = true;
    }
    if (freed) await new Promise((r) => setImmediate(r));
    const bindErrors: Record<string, string> = {};
    const opening: Promise<void>[] = [];
    const keep: [PortServer, (typeof gen.ports extends Map<string, infer V> ? V : never)][] = [];
    for (const [key, cfg] of gen.ports) {
      const existing = this.servers.get(key);
      if (existing !== undefined && existing.kind === portKind(cfg)) {
        keep.push([existing, cfg]);
        continue;
      }
      if (existing !== undefined) {
        // Protocol change on this port: stop listening now (in-flight requests finish on their
        // connections during the grace period) and let the handle close before binding anew.
        this.servers.delete(key);
        void existing.close();
        await new Promise((r) => setImmediate(r));
      }
      const server = new PortServer(cfg, this.rt);
      opening.push(server.listen().then(
        () => { this.servers.set(key, server); },
        (err: Error) => { bindErrors[key] = err.message; },
      ));
    }
    await Promise.all(opening);
    // After the HTTP(S) servers: shared ports delegate to the server registered for their key.
    await this.l4.apply(ir, this.bindAddress, bindErrors, this.delegateFor);
    // The swap: one synchronous pass, so no request sees half of a generation.
    for (const [server, cfg] of keep) server.update(cfg);
    const closing: Promise<void>[] = [];
    for (const [key, server] of this.servers) {
      if (!gen.ports.has(key)) {
        this.servers.delete(key);
        closing.push(server.close());
      }
    }
    // Pools only older generations use are closed a little later: requests that started on
    // those generations may still retry or mirror through them.
    setTimeout(() => this.pools.sweep(seq), POOL_GRACE_MS).unref();
    this.metrics.generation = ir.generation;
    if (seq % PRUNE_EVERY_APPLIES === 0) {
      this.metrics.prune(STALE_SERIES_APPLIES - PRUNE_EVERY_APPLIES);
      this.sweptSeq = seq;
    }
    this.metrics.reloads++;
    void Promise.all(closing);
    return { generation: ir.generation, bindErrors };
  }

  metricsText(): string {
    return this.metrics.render() + this.l4.metrics();
  }

  /** Bound addresses by "address:port" key (tests use it to find ephemeral ports). */
  boundPorts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, s] of this.servers) {
      const port = s.address()?.port ?? this.l4.boundPort(key);
      if (port !== undefined) out[key] = port;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.queue;
    const all = [...this.servers.values()];
    this.servers.clear();
    await Promise.all([...all.map((s) => s.close(0)), this.l4.close()]);
    await this.pools.close();
  }
}
