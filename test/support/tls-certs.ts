// Throwaway X.509 material for tests: a CA and leaf certificates signed by it, made at test time
// with the system `openssl` (no fixtures on disk, nothing that expires in the repository).
//
//   const ca = await makeCA();                                   // { certPem, keyPem }
//   const srv = await makeCert(ca, { dns: ['a.example.com', '*.example.com'] });
//   const cli = await makeCert(ca, { cn: 'alice', client: true });
//   tls.createServer({ cert: srv.certPem, key: srv.keyPem });
//   tls.connect({ ca: ca.certPem, servername: 'a.example.com' });
//
// Keys are ECDSA P-256 (fast to generate). Certificates are valid from now for `days` (default 2); `days <= 0` makes an expired one.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  certPem: string;
  keyPem: string;
}

export interface CA extends CertPair {
  /** Subject common name of the CA. */
  name: string;
}

export interface CertOptions {
  /** subjectAltName DNS entries (exact or "*.suffix"). */
  dns?: string[];
  /** subjectAltName URI entries, e.g. "spiffe://cluster.local/ns/a/sa/b". */
  uris?: string[];
  /** subjectAltName IP entries. */
  ips?: string[];
  /** Subject CN; default: the first DNS name, else "portico-test". */
  cn?: string;
  /** Client certificate (extendedKeyUsage clientAuth) instead of a server certificate. */
  client?: boolean;
  /** Both serverAuth and clientAuth. */
  both?: boolean;
  /** Days valid; default 2. Negative: already expired (for failure tests). */
  days?: number;
  /** RSA 2048 key instead of EC P-256 (as the upstream conformance suite makes them). */
  rsa?: boolean;
  /** No authorityKeyIdentifier (Go's x509 leaves it out when the parent template has no SKI): verifiers find the issuer by name only. */
  noAuthorityKeyId?: boolean;
  /** subjectAltNames written as an openssl config section, so URIs may contain commas. */
  sanSection?: boolean;
}

export interface LeafCert extends CertPair {
  /** PEM of the issuing CA, handy for `ca:` options. */
  caPem: string;
  /** Leaf followed by the CA: a full chain, for servers that send it. */
  chainPem: string;
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-certs-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const RSA_KEY_ARGS = ['-newkey', 'rsa:2048', '-nodes'];

/** A self-signed CA certificate and its key. */
export async function makeCA(name = 'Portico Test CA', opts: { rsa?: boolean } = {}): Promise<CA> {
  return withTempDir(async (dir) => {
    await openssl(dir, [
      'req', '-x509', ...(opts.rsa ? RSA_KEY_ARGS : KEY_ARGS), '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2',
      '-subj', `/CN=${name}`, '-set_serial', serial(),
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return {
      name,
      certPem: await readFile(join(dir, 'ca.crt'), 'utf8'),
      keyPem: await readFile(join(dir, 'ca.key'), 'utf8'),
    };
  });
}

/** A leaf certificate signed by `ca`, with the given subjectAltNames. */
export async function makeCert(ca: CertPair, opts: CertOptions = {}): Promise<LeafCert> {
  const dns = opts.dns ?? [];
  const uris = opts.uris ?? [];
  const ips = opts.ips ?? [];
  const cn = opts.cn ?? dns[0] ?? 'portico-test';
  const san = [...dns.map((d) => `DNS:${d}`), ...uris.map((u) => `URI:${u}`), ...ips.map((i) => `IP:${i}`)];
  const eku = opts.both ? 'serverAuth,clientAuth' : opts.client ? 'clientAuth' : 'serverAuth';
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
    ...(san.length > 0 && !opts.sanSection ? [`subjectAltName=${san.join(',')}`] : []),
    ...(san.length > 0 && opts.sanSection ? ['subjectAltName=@alt'] : []),
    ...(opts.noAuthorityKeyId ? ['authorityKeyIdentifier=none'] : []),
    ...(san.length > 0 && opts.sanSection ? ['[alt]', ...san.map((e, i) => `${e.slice(0, e.indexOf(':'))}.${i + 1}=${e.slice(e.indexOf(':') + 1)}`)] : []),
  ].join('\n');
  return withTempDir(async (dir) => {
    await writeFile(join(dir, 'ca.crt'), ca.certPem);
    await writeFile(join(dir, 'ca.key'), ca.keyPem);
    await writeFile(join(dir, 'ext.cnf'), ext + '\n');
    await openssl(dir, ['req', '-new', ...(opts.rsa ? RSA_KEY_ARGS : KEY_ARGS), '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${cn.replace(/\//g, '_')}`]);
    const days = opts.days ?? 2;
    const validity = days > 0
      ? ['-days', String(days)]
      : ['-not_before', stamp(-3 * 86400), '-not_after', stamp(-86400)];
    await x509Sign(dir, validity);
    const certPem = await readFile(join(dir, 'leaf.crt'), 'utf8');
    return {
      certPem,
      keyPem: await readFile(join(dir, 'leaf.key'), 'utf8'),
      caPem: ca.certPem,
      chainPem: certPem + ca.certPem,
    };
  });
}

async function x509Sign(dir: string, validity: string[]): Promise<void> {
  const base = ['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial(), '-extfile', 'ext.cnf', '-out', 'leaf.crt'];
  if (validity[0] === '-days') return openssl(dir, [...base, ...validity]);
  // `openssl x509 -not_before` needs OpenSSL 3.4+; older versions sign through `openssl ca`.
  try {
    await openssl(dir, [...base, ...validity]);
  } catch {
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca=d', '[d]', 'database=index.txt', 'new_certs_dir=.', 'default_md=sha256',
      'policy=p', 'unique_subject=no', `serial=serial`, '[p]', 'commonName=supplied', '',
    ].join('\n'));
    await writeFile(join(dir, 'serial'), serial().slice(2) + '\n');
    await openssl(dir, [
      'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'leaf.csr',
      '-out', 'leaf.crt', '-extfile', 'ext.cnf', '-notext',
      '-startdate', validity[1], '-enddate', validity[3],
    ]);
  }
}

function serial(): string {
  // Positive 63-bit serial in hex; unique enough for throwaway certificates.
  const b = randomBytes(8);
  b[0] &= 0x7f;
  return '0x' + b.toString('hex');
}

/** UTC time `offsetSeconds` from now as YYYYMMDDHHMMSSZ (ASN.1 GeneralizedTime-ish, as openssl wants). */
function stamp(offsetSeconds: number): string {
  return new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}
