// ExternalAuth (HTTP protocol): asks the auth service about each request before it is routed.
// A 2xx answer lets the request through, copying allowedResponseHeaders onto it; any other
// answer is returned to the client as is; an unreachable auth service fails closed (500/503).
import type { ExtAuthRuntime } from '../model.ts';
import { nextEndpoint } from '../upstream/balance.ts';
import type { Exchange } from '../handler.ts';
import type { HeaderBag } from './headers.ts';

const ALWAYS = ['authorization', 'cookie', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'];

/** `body`: the first forwardBody.maxSize bytes of the request body, or null. */
export async function externalAuth(ex: Exchange, auth: ExtAuthRuntime, body: Buffer | null): Promise<boolean> {
  const ep = auth.backend ? nextEndpoint(auth.backend) : undefined;
  if (ep === undefined) {
    ex.local(auth.backend ? 503 : 500);
    return false;
  }
  const src = ex.req.headers;
  const headers: HeaderBag = {};
  const allowed = auth.allowedRequestHeaders;
  for (const k in src) {
    if (k.charCodeAt(0) === 58) continue;
    if (allowed === undefined ? !HOP.has(k) : allowed.includes(k) || ALWAYS.includes(k)) headers[k] = src[k];
  }
  headers.host = ex.rawHost;
  delete headers['content-length'];
  delete headers['transfer-encoding'];
  if (body !== null) headers['content-length'] = String(body.length);
  const res = await ep.pool.request({
    path: auth.path.replace(/\/$/, '') + ex.view.path + (ex.view.rawQuery ? `?${ex.view.rawQuery}` : ''),
    method: ex.view.method as any,
    headers: headers as Record<string, string>,
    body,
  });
  if (res.statusCode >= 200 && res.statusCode < 300) {
    await res.body.dump();
    // The filters that ran before and after are applied later, on the forwarded request.
    ex.extraRequestHeaders = {};
    for (const name of auth.allowedResponseHeaders) {
      const v = res.headers[name];
      if (v !== undefined) ex.extraRequestHeaders[name] = v;
    }
    return true;
  }
  const answer = await res.body.text();
  const out: HeaderBag = {};
  for (const name of ['location', 'www-authenticate', 'content-type', 'set-cookie']) if (res.headers[name] !== undefined) out[name] = res.headers[name];
  ex.localWithHeaders(res.statusCode, out, answer);
  return false;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length']);
