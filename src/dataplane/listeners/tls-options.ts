// Gateway listeners[].tls.options that Portico understands (implementation-specific keys; others
// are ignored). Read once per generation, never per connection.
//
//   portico.dev/tls-min-version: TLSv1.2 | TLSv1.3   lowest TLS version accepted
//   portico.dev/tls-max-version: TLSv1.2 | TLSv1.3   highest TLS version offered
//   portico.dev/alpn: "h2,http/1.1"                  TLS (Terminate) listeners: ALPN protocols
//                                                    offered, in preference order (HTTPS
//                                                    listeners always offer h2 and http/1.1)
import type { SecureVersion } from 'node:tls';

export const MIN_VERSION = 'portico.dev/tls-min-version';
export const MAX_VERSION = 'portico.dev/tls-max-version';
export const ALPN = 'portico.dev/alpn';

export interface ListenerTlsOptions {
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  alpn?: string[];
}

const VERSIONS: Record<string, SecureVersion> = { 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3', '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };

export function listenerTlsOptions(options: Record<string, string> | undefined): ListenerTlsOptions {
  const out: ListenerTlsOptions = {};
  if (options === undefined) return out;
  const min = VERSIONS[options[MIN_VERSION]?.trim() ?? ''];
  const max = VERSIONS[options[MAX_VERSION]?.trim() ?? ''];
  if (min !== undefined) out.minVersion = min;
  // A maximum below the minimum would refuse every client: the minimum wins.
  if (max !== undefined && (min === undefined || max >= min)) out.maxVersion = max;
  const alpn = (options[ALPN] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '' && s.length < 256);
  if (alpn.length > 0) out.alpn = alpn;
  return out;
}

/**
 * The CA bundle to verify client certificates against, or undefined when nothing is verified.
 * AllowInsecureFallback admits every client whatever its certificate, so it is never verified:
 * OpenSSL verifying a certificate whose issuer name matches a trusted CA but whose signature does
 * not (two CAs with one subject, as in the upstream conformance suite) leaves an RSA padding
 * error queued that Node then reports on the socket's next read, and the connection is reset.
 */
export function clientVerificationCA(cv: { caPem: string; mode: string } | undefined): string | undefined {
  return cv !== undefined && cv.mode !== 'AllowInsecureFallback' ? cv.caPem : undefined;
}
