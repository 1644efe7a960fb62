// Certificates and keys of the local cluster, made with the system openssl (3.x): one CA, the
// apiserver's serving certificate, an admin client certificate (group system:masters, used by
// everything of ours), the apiserver's client certificate towards the node agent ("kubelet"), the
// node agent's serving certificate, and the service-account signing key pair.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { capture } from './build.ts';

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  adminCert: string;
  adminKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  kubeletServingCert: string;
  kubeletServingKey: string;
  saKey: string;
  saPub: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makePki(dir: string, opts: { nodeIP: string; serviceIP: string }): Promise<Pki> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const pki: Pki = {
    dir,
    caCert: f('ca.crt'),
    caKey: f('ca.key'),
    apiserverCert: f('apiserver.crt'),
    apiserverKey: f('apiserver.key'),
    adminCert: f('admin.crt'),
    adminKey: f('admin.key'),
    kubeletClientCert: f('kubelet-client.crt'),
    kubeletClientKey: f('kubelet-client.key'),
    kubeletServingCert: f('kubelet.crt'),
    kubeletServingKey: f('kubelet.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
  if (existsSync(pki.saPub)) return pki;
  // A minimal config so that openssl adds no default extensions (the stock one marks certs as CAs).
  const cnf = f('openssl.cnf');
  writeFileSync(cnf, '[req]\ndistinguished_name = dn\n[dn]\n');
  const ossl = (args: string[]) => capture('openssl', args, dir);
  await ossl(['req', '-config', cnf, '-x509', '-new', ...EC, '-keyout', pki.caKey, '-out', pki.caCert, '-subj', '/CN=portico-local-cluster-ca', '-days', '3650',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (key: string, cert: string, subj: string, usage: string, san?: string) =>
    ossl(['req', '-config', cnf, '-x509', '-new', ...EC, '-keyout', key, '-out', cert, '-subj', subj, '-days', '3650',
      '-CA', pki.caCert, '-CAkey', pki.caKey, '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature', '-addext', `extendedKeyUsage=${usage}`,
      ...(san ? ['-addext', `subjectAltName=${san}`] : [])]);
  const apiSan = ['IP:127.0.0.1', `IP:${opts.serviceIP}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'].join(',');
  await leaf(pki.apiserverKey, pki.apiserverCert, '/CN=kube-apiserver', 'serverAuth', apiSan);
  await leaf(pki.adminKey, pki.adminCert, '/O=system:masters/CN=portico-admin', 'clientAuth');
  await leaf(pki.kubeletClientKey, pki.kubeletClientCert, '/O=system:masters/CN=kube-apiserver-kubelet-client', 'clientAuth');
  await leaf(pki.kubeletServingKey, pki.kubeletServingCert, '/CN=portico-node', 'serverAuth', `IP:${opts.nodeIP},IP:127.0.0.1,DNS:localhost`);
  await ossl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki.saKey]);
  await ossl(['pkey', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
  return pki;
}
