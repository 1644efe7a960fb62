// Reading TLS material from Secrets and ConfigMaps. Certificates and keys are parsed (not just
// looked at) so that a malformed Secret is reported as InvalidCertificateRef instead of
// failing later in the data plane. Results are cached per object (objects are immutable).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KubeObject } from '../api/meta.ts';
import { SECRET_TYPE_TLS } from '../api/core.ts';
import { b64, obj, str } from './util.ts';

export type CertResult = { ok: true; certPem: string; keyPem: string } | { ok: false; message: string };

const certCache = new WeakMap<object, CertResult>();
const caCache = new WeakMap<object, CAResult>();

function secretValue(secret: KubeObject, key: string): string | undefined {
  const sd = str(obj(secret.stringData)[key]);
  if (sd !== undefined) return sd;
  const d = str(obj(secret.data)[key]);
  return d === undefined ? undefined : b64(d);
}

function pemBlocks(pem: string, label: string): string[] {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  return pem.match(re) ?? [];
}

/** Validates a kubernetes.io/tls Secret: type, tls.crt and tls.key present and parseable. */
export function readTLSSecret(secret: KubeObject): CertResult {
  const cached = certCache.get(secret);
  if (cached) return cached;
  let result: CertResult;
  const name = `${secret.metadata.namespace}/${secret.metadata.name}`;
  if (secret.type !== SECRET_TYPE_TLS) {
    result = { ok: false, message: `Secret ${name} is not of type ${SECRET_TYPE_TLS}.` };
  } else {
    const certPem = secretValue(secret, 'tls.crt');
    const keyPem = secretValue(secret, 'tls.key');
    if (!certPem || !keyPem) {
      result = { ok: false, message: `Secret ${name} lacks tls.crt or tls.key.` };
    } else {
      try {
        const certs = pemBlocks(certPem, 'CERTIFICATE');
        if (certs.length === 0) throw new Error('no PEM certificate');
        const leaf = certs.map((c) => new X509Certificate(c))[0]!;
        // A key that is not the leaf's would only fail later, in the data plane's createSecureContext.
        if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new Error('tls.key does not match the certificate in tls.crt');
        result = { ok: true, certPem, keyPem };
      } catch (e) {
        result = { ok: false, message: `Secret ${name} holds a malformed certificate or key: ${(e as Error).message}.` };
      }
    }
  }
  certCache.set(secret, result);
  return result;
}

export type CAResult = { ok: true; pem: string } | { ok: false; message: string };

/** Reads a CA bundle from a ConfigMap or Secret key "ca.crt"; every PEM block must parse. */
export function readCABundle(source: KubeObject): CAResult {
  const cached = caCache.get(source);
  if (cached) return cached;
  const name = `${source.kind} ${source.metadata.namespace}/${source.metadata.name}`;
  const raw = source.kind === 'Secret'
    ? secretValue(source, 'ca.crt')
    : str(obj(source.data)['ca.crt']) ?? (str(obj(source.binaryData)['ca.crt']) !== undefined ? b64(str(obj(source.binaryData)['ca.crt'])!) : undefined);
  let result: CAResult;
  if (!raw) {
    result = { ok: false, message: `${name} has no ca.crt key.` };
  } else {
    const blocks = pemBlocks(raw, 'CERTIFICATE');
    try {
      if (blocks.length === 0) throw new Error('no PEM certificate');
      for (const b of blocks) new X509Certificate(b);
      result = { ok: true, pem: blocks.join('\n') + '\n' };
    } catch (e) {
      result = { ok: false, message: `${name} holds a malformed CA certificate: ${(e as Error).message}.` };
    }
  }
  caCache.set(source, result);
  return result;
}

const dnsCache = new Map<string, string[]>();

/** The DNS subject alternative names of the leaf certificate of a PEM chain ([] if unreadable). */
export function certificateDNSNames(certPem: string): string[] {
  const cached = dnsCache.get(certPem);
  if (cached) return cached;
  let names: string[];
  try {
    const leaf = pemBlocks(certPem, 'CERTIFICATE')[0];
    const san = leaf ? new X509Certificate(leaf).subjectAltName ?? '' : '';
    names = san.split(',').map((e) => e.trim()).filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4).toLowerCase());
  } catch {
    names = [];
  }
  // Keyed by PEM text (IR certificates are copies): bound it so rotated certificates do not pile up.
  if (dnsCache.size >= 1024) dnsCache.clear();
  dnsCache.set(certPem, names);
  return names;
}
