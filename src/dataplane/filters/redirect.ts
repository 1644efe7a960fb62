// RequestRedirect: builds the Location header. Port rules (HTTPRequestRedirectFilter.port doc):
// without a port, a set scheme implies its well-known port (http 80, https 443), otherwise the
// listener port is kept; 80 with http and 443 with https are left out of Location.
import { rewritePath, type PathModifier } from './path.ts';

export interface RedirectSpec {
  scheme?: 'http' | 'https';
  hostname?: string;
  port?: number;
  path?: PathModifier;
  statusCode: number;
}

export function redirectLocation(
  r: RedirectSpec,
  listenerScheme: 'http' | 'https',
  listenerPort: number,
  host: string,
  prefix: string | undefined,
  path: string,
  rawQuery: string,
): string {
  const scheme = r.scheme ?? listenerScheme;
  const port = r.port ?? (r.scheme !== undefined ? (r.scheme === 'https' ? 443 : 80) : listenerPort);
  const hostname = r.hostname ?? host;
  const hostPart = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  const defaultPort = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
  const newPath = r.path ? rewritePath(r.path, prefix, path) : path;
  return `${scheme}://${hostPart}${defaultPort ? '' : `:${port}`}${newPath}${rawQuery === '' ? '' : `?${rawQuery}`}`;
}
