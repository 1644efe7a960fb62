// Who a TLS backend must prove to be (BackendTLSPolicy validation): the hostname, or, when
// subjectAltNames are given, any one of them instead. Shared by the HTTP pools (pools.ts) and the
// TLSRoute re-encryption (l4/proxy.ts), so both check identities the same way.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { IRBackendTLS } from '../../ir/types.ts';

/** undefined when the certificate (already verified against the CA bundle) is the expected backend. */
export function verifyBackendIdentity(t: Pick<IRBackendTLS, 'sni' | 'subjectAltNames' | 'source'>, cert: PeerCertificate): Error | undefined {
  const sans = t.subjectAltNames;
  if (sans === undefined || sans.length === 0) return checkServerIdentity(t.sni, cert);
  let uris: string[] | undefined;
  for (const s of sans) {
    if (s.type === 'Hostname' && checkServerIdentity(s.hostname, cert) === undefined) return undefined;
    if (s.type === 'URI' && (uris ??= altNames(cert.subjectaltname, 'URI')).includes(s.uri)) return undefined;
  }
  return new Error(`backend certificate matches none of the subjectAltNames of BackendTLSPolicy ${t.source.namespace ?? ''}/${t.source.name}`);
}

/**
 * The values of one type in Node's subjectaltname string ("DNS:a, URI:spiffe://b"). Node quotes a
 * value with special characters as a JSON string (a comma becomes "\u002c"), so a plain split on
 * ", " would miss those: quoted values are read and unescaped whole.
 */
export function altNames(alt: string | undefined, type: string): string[] {
  const out: string[] = [];
  const s = alt ?? '';
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const entryType = s.slice(i, colon);
    let j = colon + 1;
    let value: string | undefined;
    if (s[j] === '"') {
      let k = j + 1;
      while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
      try { value = JSON.parse(s.slice(j, k + 1)) as string; } catch { value = undefined; }
      j = k + 1;
    } else {
      const comma = s.indexOf(', ', j);
      j = comma < 0 ? s.length : comma;
      value = s.slice(colon + 1, j);
    }
    if (entryType === type && value !== undefined) out.push(value);
    const next = s.indexOf(', ', j);
    i = next < 0 ? s.length : next + 2;
  }
  return out;
}
