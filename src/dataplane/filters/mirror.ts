// RequestMirror: a copy of the (already filtered) request to each mirror backend, fire and
// forget. Mirror answers and failures are dropped and never delay or change the real response:
// a streamed body is teed, and a mirror that cannot keep up loses its copy, never slows the
// request down. A mirror that stops answering must not pile up sockets either (that would hurt
// every request, not one): copies in flight to one endpoint are capped, and each copy is
// abandoned after a while.
import { PassThrough, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { MirrorRuntime } from '../model.ts';
import { nextEndpoint } from '../upstream/balance.ts';
import type { Exchange } from '../handler.ts';

/** A mirror copy may lag this far behind the request body before it is dropped. */
const MIRROR_LAG_LIMIT = 1 << 20;

export interface ChosenMirror {
  mirror: MirrorRuntime;
  /** Body copy when the request body is streamed. */
  copy?: PassThrough;
}

/** Copies in flight to one mirror endpoint at most (like Envoy's default max_requests, lower); more are dropped. */
export const MIRROR_MAX_IN_FLIGHT = 256;
/** A mirror exchange still running after this long is aborted. */
const MIRROR_TIMEOUT_MS = 30_000;

/** Copies in flight by endpoint pool (pools outlive generations, so a reload does not reset it). */
const inFlight = new WeakMap<Dispatcher, number>();

/** Drops the mirror's answer; counts the copy in flight until it ends, fails or times out. */
class MirrorExchange implements Dispatcher.DispatchHandler {
  private readonly pool: Dispatcher;
  private controller?: Dispatcher.DispatchController;
  private readonly timer: NodeJS.Timeout;
  private done = false;

  constructor(pool: Dispatcher) {
    this.pool = pool;
    inFlight.set(pool, (inFlight.get(pool) ?? 0) + 1);
    // Also a backstop: the count comes down even if undici never reports the end.
    this.timer = setTimeout(() => {
      this.controller?.abort(new Error('mirror timed out'));
      this.finish();
    }, MIRROR_TIMEOUT_MS);
    this.timer.unref();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new Error('mirror timed out'));
  }

  onResponseStart(): void {}
  onResponseData(): void {}
  onResponseEnd(): void { this.finish(); }
  onResponseError(): void { this.finish(); }

  finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    inFlight.set(this.pool, (inFlight.get(this.pool) ?? 1) - 1);
  }
}

/** Applies each mirror's percentage once per request. */
export function chooseMirrors(route: MirrorRuntime[], backend: MirrorRuntime[]): ChosenMirror[] {
  const out: ChosenMirror[] = [];
  for (const list of [route, backend]) {
    for (let i = 0; i < list.length; i++) {
      const m = list[i];
      if (m.percent < 100 && Math.random() * 100 >= m.percent) continue;
      out.push({ mirror: m });
    }
  }
  return out;
}

/** Splits a request body: the returned stream feeds the backend (with backpressure), copies feed mirrors. */
export function teeBody(src: Readable, mirrors: ChosenMirror[]): PassThrough {
  const main = new PassThrough();
  for (const m of mirrors) {
    m.copy = new PassThrough();
    m.copy.on('error', () => {});
  }
  src.on('data', (c: Buffer) => {
    if (!main.write(c)) src.pause();
    for (const m of mirrors) {
      const copy = m.copy!;
      if (copy.destroyed) continue;
      if (copy.writableLength > MIRROR_LAG_LIMIT) copy.destroy();
      else copy.write(c);
    }
  });
  main.on('drain', () => src.resume());
  src.once('end', () => {
    main.end();
    for (const m of mirrors) m.copy!.end();
  });
  src.once('error', (err) => {
    main.destroy(err);
    for (const m of mirrors) m.copy!.destroy();
  });
  return main;
}

export function sendMirrors(mirrors: ChosenMirror[], ex: Exchange): void {
  for (let i = 0; i < mirrors.length; i++) {
    const { mirror, copy } = mirrors[i];
    const ep = nextEndpoint(mirror.backend);
    if (ep === undefined || (inFlight.get(ep.pool) ?? 0) >= MIRROR_MAX_IN_FLIGHT) {
      copy?.destroy();
      continue;
    }
    const exchange = new MirrorExchange(ep.pool);
    try {
      ep.pool.dispatch(
        {
          path: ex.upstreamPath,
          method: ex.view.method as Dispatcher.HttpMethod,
          headers: ex.upstreamHeaders as Record<string, string>,
          body: ex.body instanceof Buffer ? ex.body : copy ?? null,
          servername: mirror.backend.sni,
        } as Dispatcher.DispatchOptions,
        exchange,
      );
    } catch {
      // a mirror never affects the request
      exchange.finish();
      copy?.destroy();
    }
  }
}
