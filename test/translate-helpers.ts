// Helpers for the translate-* tests: YAML in, translate() result out, and status lookups.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../src/api/meta.ts';
import { buildSnapshot } from '../src/providers/snapshot.ts';
import { translate } from '../src/translate/index.ts';
import type { TranslateOptions, TranslateResult } from '../src/translate/index.ts';

export const NOW = '2026-01-01T00:00:00Z';

export function parseObjects(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText).map((d) => d.toJS() as KubeObject).filter((o) => o && typeof o === 'object');
}

/** The TLS Secret "tls-cert" and CA ConfigMap "ca-bundle" fixtures (namespace infra) of the golden corpus. */
export function tlsFixtures(): KubeObject[] {
  const base = parseObjects(readFileSync(new URL('./golden/_base.yaml', import.meta.url), 'utf8'));
  return base.filter((o) => (o.kind === 'Secret' || o.kind === 'ConfigMap') && o.metadata.namespace === 'infra');
}

export const CLASS = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico, generation: 1}
spec: {controllerName: portico.dev/gateway-controller}
`;

export function run(yamlText: string, extra: KubeObject[] = [], options: Partial<TranslateOptions> = {}): TranslateResult {
  const objs = [...parseObjects(CLASS + '\n---\n' + yamlText), ...extra];
  return translate(buildSnapshot(objs, 1), { now: NOW, ...options });
}

export type Cond = { type: string; status: string; reason: string; observedGeneration?: number; lastTransitionTime: string };

export function statusOf(r: TranslateResult, key: string): Record<string, unknown> | undefined {
  return r.statuses.find((s) => s.key === key)?.status;
}

export function cond(conditions: unknown, type: string): Cond | undefined {
  return (conditions as Cond[] | undefined)?.find((c) => c.type === type);
}

export function listenerCond(r: TranslateResult, key: string, listener: string, type: string): Cond | undefined {
  const ls = (statusOf(r, key)?.listeners ?? []) as { name: string; conditions: Cond[] }[];
  return cond(ls.find((l) => l.name === listener)?.conditions, type);
}

export function listenerStatus(r: TranslateResult, key: string, listener: string): { attachedRoutes: number; supportedKinds: unknown[] } | undefined {
  const ls = (statusOf(r, key)?.listeners ?? []) as { name: string; attachedRoutes: number; supportedKinds: unknown[] }[];
  return ls.find((l) => l.name === listener);
}

/** Condition of a route's parent entry, picked by index. */
export function parentCond(r: TranslateResult, key: string, index: number, type: string): Cond | undefined {
  const parents = (statusOf(r, key)?.parents ?? []) as { conditions: Cond[] }[];
  return cond(parents[index]?.conditions, type);
}

export function brief(c: Cond | undefined): string {
  return c ? `${c.status}/${c.reason}` : 'absent';
}
