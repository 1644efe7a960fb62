// RequestMirror: a copy of the (already filtered) request to each mirror backend, fire and
// forget. Mirror answers and failures are dropped and never delay or change the real response:
// a streamed body is teed, and a mirror that cannot keep up loses its copy, never slows the
// request down.
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

const IGNORE: Dispatcher.DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseError() {},
  onResponseData() {},
  onResponseEnd() {},
};

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
    if (ep === undefined) {
      copy?.destroy();
      continue;
    }
    try {
      ep.pool.dispatch(
        {
          path: ex.upstreamPath,
          method: ex.view.method as Dispatcher.HttpMethod,
          headers: ex.upstreamHeaders as Record<string, string>,
          body: ex.body instanceof Buffer ? ex.body : copy ?? null,
          servername: mirror.backend.sni,
        } as Dispatcher.DispatchOptions,
        IGNORE,
      );
    } catch {
      // a mirror never affects the request
    }
  }
}
