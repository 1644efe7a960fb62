// Keep-alive connection pools to backend endpoints (undici Pool, the measured-fastest client),
// one per (protocol, TLS settings, address, port). Pools outlive generations: a new generation
// reuses the pools of endpoints it still has, and pools no generation uses are closed gracefully
// (undici lets their in-flight requests finish).
import { Pool } from 'undici';
import type { PeerCertificate } from 'node:tls';
import { createHash } from 'node:crypto';
import type { IRBackend, IRCertificate } from '../../ir/types.ts';
import { H1Client } from './h1.ts';
import { verifyBackendIdentity } from './identity.ts';

export interface EndpointRuntime {
  address: string;
  port: number;
  /** "address:port", also the session-persistence identity of the endpoint. */
  hostPort: string;
  pool: Pool;
  /**
   * Cleartext HTTP/1.1 backends: the lean client the request path uses instead of `pool`
   * (upgrades, mirrors and ExternalAuth keep using `pool`).
   */
  h1?: H1Client;
  /** Passive health, shared by every generation that has this endpoint. */
  health: EndpointHealth;
}

/**
 * Passive health check: an endpoint that refuses or times out connections is skipped by
 * round-robin for a while (doubling with consecutive failures, up to 30 s), unless every
 * endpoint of its backend is down.
 */
export interface EndpointHealth {
  downUntil: number;
  failures: number;
}

const EJECT_BASE_MS = 1_000;
const EJECT_MAX_MS = 30_000;

export function markDown(h: EndpointHealth, now: number): void {
  h.failures++;
  h.downUntil = now + Math.min(EJECT_MAX_MS, EJECT_BASE_MS * 2 ** (h.failures - 1));
}

export function markUp(h: EndpointHealth): void {
  if (h.failures !== 0) {
    h.failures = 0;
    h.downUntil = 0;
  }
}

interface PoolEntry {
  pool: Pool;
  h1?: H1Client;
  health: EndpointHealth;
  generation: number;
}

export class PoolRegistry {
  private readonly pools = new Map<string, PoolEntry>();

  /** Returns the pool for an endpoint, creating it if needed, and marks it used by `generation`. */
  get(backend: IRBackend, address: string, port: number, generation: number, clientCert?: IRCertificate): { pool: Pool; h1?: H1Client; health: EndpointHealth } {
    const tls = backend.tls;
    // Content, not length: a rotated CA bundle or client certificate needs a new pool.
    const tlsKey = tls ? `${tls.sni}|${digest(tls.caPem)}|${tls.wellKnown ?? ''}|${JSON.stringify(tls.subjectAltNames ?? [])}|${digest(clientCert?.certPem)}|${digest(clientCert?.keyPem)}` : '';
    const key = `${backend.protocol}|${tlsKey}|${address}|${port}`;
    let entry = this.pools.get(key);
    if (entry === undefined) {
      entry = { pool: createPool(backend, address, port, clientCert), health: { downUntil: 0, failures: 0 }, generation };
      if (backend.protocol === 'http1' && !tls) entry.h1 = new H1Client(address, port);
      this.pools.set(key, entry);
    }
    entry.generation = generation;
    return entry;
  }

  /** Closes pools not used by `generation` (call after it is live). */
  sweep(generation: number): void {
    for (const [key, entry] of this.pools) {
      if (entry.generation < generation) {
        this.pools.delete(key);
        entry.pool.close().catch(() => {});
        void entry.h1?.close();
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => {
      void e.h1?.close();
      return e.pool.destroy().catch(() => {});
    }));
  }
}

function createPool(backend: IRBackend, address: string, port: number, clientCert?: IRCertificate): Pool {
  const host = address.includes(':') ? `[${address}]` : address;
  const tls = backend.tls;
  if (!tls) {
    return new Pool(`http://${host}:${port}`, {
      useH2c: backend.protocol === 'h2c',
      keepAliveTimeout: 30_000,
      connectTimeout: 5_000,
      headersTimeout: 0,
      bodyTimeout: 0,
    } as Pool.Options);
  }
  return new Pool(`https://${host}:${port}`, {
    // h2c means HTTP/2 (gRPC backends); with TLS that is h2 by ALPN.
    allowH2: backend.protocol === 'h2' || backend.protocol === 'h2c',
    keepAliveTimeout: 30_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: {
      servername: tls.sni,
      ca: tls.caPem,
      cert: clientCert?.certPem,
      key: clientCert?.keyPem,
      rejectUnauthorized: true,
      checkServerIdentity: (_host: string, cert: PeerCertificate) => verifyBackendIdentity(tls, cert),
    },
  });
}

/** Short stable digest of PEM text for pool keys (computed per generation, never per request). */
function digest(pem: string | undefined): string {
  return pem === undefined ? '' : createHash('sha256').update(pem).digest('base64url').slice(0, 22);
}
