// translate(): snapshot in, status + IR out. Pure and deterministic: no I/O, no clock
// (the time used for lastTransitionTime is passed in), same snapshot → same bytes out.
import type { KubeObject } from '../api/meta.ts';
import type { IR } from '../ir/types.ts';
import type { Snapshot } from '../providers/snapshot.ts';

export interface TranslateOptions {
  /** RFC 3339 time stamped on conditions that change (lastTransitionTime). */
  now: string;
  /** Defaults to CONTROLLER_NAME. */
  controllerName?: string;
  /**
   * Status of the previous translation, so that lastTransitionTime is kept when a
   * condition's status did not change. Keyed like TranslateResult.statuses.
   */
  previous?: ReadonlyMap<string, unknown>;
}

/** An object Portico owns status for, with the status Portico computed for it. */
export interface OwnedStatus {
  /** "Kind/namespace/name" or "Kind/name" for cluster-scoped kinds. */
  key: string;
  object: KubeObject;
  /** The full status as Portico would write it (for routes/policies: Portico's own parents/ancestors only). */
  status: Record<string, unknown>;
}

export interface TranslateResult {
  /** Sorted by key. */
  statuses: OwnedStatus[];
  ir: IR;
  /** Human-readable notes about objects ignored or rejected (also reflected in status). */
  diagnostics: { object: string; message: string }[];
}

export function translate(snapshot: Snapshot, options: TranslateOptions): TranslateResult {
  void options;
  return { statuses: [], ir: { generation: snapshot.generation, gateways: [], backends: {} }, diagnostics: [] };
}
