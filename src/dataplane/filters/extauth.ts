// ExternalAuth: asks the auth service about each request before it is routed.
// HTTP protocol: a 2xx answer lets the request through, copying allowedResponseHeaders onto it;
// any other answer is returned to the client as is. GRPC protocol: Envoy ext_authz
// Authorization/Check (extauth-grpc.ts); OK lets the request through with the headers the
// service adds or removes, a denial answers its status (403 by default), headers and body.
// Either way an unreachable or broken auth service fails closed (500/503).
import type { EndpointRuntime } from '../upstream/pools.ts';
import type { ExtAuthRuntime } from '../model.ts';
import { nextEndpoint } from '../upstream/balance.ts';
import type { Exchange } from '../handler.ts';
import type { HeaderBag } from './headers.ts';
import { CHECK_PATH, decodeCheckResponse, encodeCheckRequest, firstMessage, grpcFrame } from './extauth-grpc.ts';

/** HTTP: sent whatever http.allowedHeaders says (method and path are in the request line). */
const ALWAYS = ['authorization', 'host'];
/** Auth response headers never copied onto the forwarded request (they describe the auth answer itself). */
const NOT_COPIED = new Set(['host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'date', 'server']);

/** `body`: the request body (at most forwardBody.maxSize bytes), or null when it is not forwarded. */
export async function externalAuth(ex: Exchange, auth: ExtAuthRuntime, body: Buffer | null): Promise<boolean> {
  const ep = auth.backend ? nextEndpoint(auth.backend) : undefined;
  if (ep === undefined) {
    ex.local(auth.backend ? 503 : 500);
    return false;
  }
  if (auth.grpc) return grpcCheck(ex, auth, ep, body);
  const src = ex.req.headers;
  const headers: HeaderBag = {};
  const allowed = auth.allowedRequestHeaders;
  // http.allowedHeaders: the listed headers besides the ones always sent; empty: only those.
  for (const k in src) {
    if (k.charCodeAt(0) === 58 || HOP.has(k)) continue;
    if (ALWAYS.includes(k) || (allowed !== undefined && allowed.includes(k))) headers[k] = src[k];
  }
  headers.host = ex.rawHost;
  // Content-Length describes what the auth service gets: the forwarded body, else nothing.
  headers['content-length'] = String(body === null ? 0 : body.length);
  const res = await ep.pool.request({
    path: auth.path.replace(/\/$/, '') + ex.view.path + (ex.view.rawQuery ? `?${ex.view.rawQuery}` : ''),
    method: ex.view.method as any,
    headers: headers as Record<string, string>,
    body,
  });
  if (res.statusCode >= 200 && res.statusCode < 300) {
    await res.body.dump();
    // The filters that ran before and after are applied later, on the forwarded request.
    // http.allowedResponseHeaders: those listed; empty: every header but Host (and framing).
    ex.extraRequestHeaders = {};
    const names = auth.allowedResponseHeaders.length > 0 ? auth.allowedResponseHeaders : Object.keys(res.headers).filter((n) => !NOT_COPIED.has(n));
    for (const name of names) {
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

/** ext_authz over gRPC. grpc.allowedHeaders: empty sends every header, else only those listed. */
async function grpcCheck(ex: Exchange, auth: ExtAuthRuntime, ep: EndpointRuntime, body: Buffer | null): Promise<boolean> {
  const src = ex.req.headers;
  const allowed = auth.allowedRequestHeaders;
  const headers: Record<string, string> = {};
  for (const k in src) {
    if (k.charCodeAt(0) === 58 || HOP.has(k)) continue;
    if (allowed !== undefined && allowed.length > 0 && !allowed.includes(k)) continue;
    const v = src[k];
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  }
  const message = encodeCheckRequest({
    method: ex.view.method,
    path: ex.view.rawQuery ? `${ex.view.path}?${ex.view.rawQuery}` : ex.view.path,
    query: ex.view.rawQuery,
    host: ex.rawHost,
    scheme: ex.listener?.scheme ?? 'http',
    protocol: `HTTP/${ex.req.httpVersion}`,
    headers,
    body,
  });
  const res = await ep.pool.request({
    path: CHECK_PATH,
    method: 'POST',
    headers: { 'content-type': 'application/grpc', te: 'trailers', host: 'ext-authz' },
    body: grpcFrame(message),
  });
  const raw = Buffer.from(await res.body.arrayBuffer());
  const grpcStatus = (res.trailers?.['grpc-status'] ?? res.headers['grpc-status']) as string | undefined;
  if (res.statusCode !== 200 || grpcStatus !== '0') throw new Error(`ext_authz Check failed: HTTP ${res.statusCode}, grpc-status ${grpcStatus}`);
  const result = decodeCheckResponse(firstMessage(raw));
  if (result.allowed) {
    const extra: HeaderBag = {};
    for (const h of result.headers) {
      if (h.key === 'host' || h.key.charCodeAt(0) === 58) continue;
      const prev = extra[h.key] ?? src[h.key];
      extra[h.key] = h.append && prev !== undefined ? [...(Array.isArray(prev) ? prev : [prev]), h.value] : h.value;
    }
    ex.extraRequestHeaders = extra;
    if (result.remove.length > 0) ex.removeRequestHeaders = result.remove;
    return true;
  }
  const out: HeaderBag = {};
  for (const h of result.headers) if (!RESPONSE_HOP.has(h.key) && h.key.charCodeAt(0) !== 58) out[h.key] = h.value;
  ex.localWithHeaders(result.status, out, result.body);
  return false;
}

const RESPONSE_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length', 'trailer']);
