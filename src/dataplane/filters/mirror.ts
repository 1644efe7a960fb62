// RequestMirror: a copy of the (already filtered) request to each mirror backend, fire and
// forget. Mirror answers and failures are dropped and never delay or change the real response.
import type { Dispatcher } from 'undici';
import type { MirrorRuntime } from '../model.ts';
import { nextEndpoint } from '../upstream/balance.ts';
import type { Exchange } from '../handler.ts';

const IGNORE: Dispatcher.DispatchHandler = {
  onRequestStart() {},
  onResponseStart() {},
  onResponseError() {},
  onResponseData() {},
  onResponseEnd() {},
};

export function sendMirrors(mirrors: MirrorRuntime[], ex: Exchange): void {
  for (let i = 0; i < mirrors.length; i++) {
    const m = mirrors[i];
    if (m.percent < 100 && Math.random() * 100 >= m.percent) continue;
    const ep = nextEndpoint(m.backend);
    if (ep === undefined) continue;
    try {
      ep.pool.dispatch(
        {
          path: ex.upstreamPath,
          method: ex.view.method as Dispatcher.HttpMethod,
          headers: ex.upstreamHeaders as Record<string, string>,
          body: ex.body instanceof Buffer ? ex.body : null,
          servername: m.backend.sni,
        } as Dispatcher.DispatchOptions,
        IGNORE,
      );
    } catch {
      // a mirror never affects the request
    }
  }
}
