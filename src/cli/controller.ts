// The control loop of `portico run`: each snapshot from the provider is translated, its IR handed
// to the data plane, and what the data plane acknowledged is remembered so that status can be
// honest (see status/programmed.ts). Applies are serialized and coalesced: while one is in
// flight, only the newest pending IR is applied after it.
import type { ApplyResult, DataPlane } from '../dataplane/index.ts';
import type { IR } from '../ir/types.ts';
import type { Snapshot } from '../providers/snapshot.ts';
import { gateProgrammed } from '../status/programmed.ts';
import { addRejectedStatuses } from '../status/rejected.ts';
import { createTranslator } from '../translate/index.ts';
import type { OwnedStatus, TranslateResult } from '../translate/index.ts';
import { nowRfc3339 } from './common.ts';
import { MemorySettler } from './memory.ts';

export interface ControllerOptions {
  dataPlane: DataPlane;
  /** The data plane's --bind-address, to attribute bind errors to listeners. */
  bindAddress?: string;
  log?: (line: string) => void;
  /** Called when statuses() may have changed: after a translation and after the data plane acknowledged one. */
  onStatusChange?: () => void;
  /** GatewayClasses with this controllerName are ours (default CONTROLLER_NAME). */
  controllerName?: string;
}

export class Controller {
  private readonly dataPlane: DataPlane;
  private readonly bindAddress: string;
  private readonly log: (line: string) => void;
  private readonly onStatusChange: () => void;
  /** Incremental: each snapshot redoes only the work its changes invalidate. */
  private readonly translator = createTranslator();
  private readonly controllerName: string | undefined;
  private latest: TranslateResult | undefined;
  /** The latest translation's statuses, with those of objects the provider rejected (file mode). */
  private owned: readonly OwnedStatus[] = [];
  /**
   * `owned` by key: the previous statuses of the next translation. Updated in place (the
   * statuses of unchanged objects are the same objects from one translation to the next), so a
   * change does not build a map of every status again.
   */
  private readonly previous = new Map<string, unknown>();
  private lastSnapshot: Snapshot | undefined;
  private snapshotGeneration = 0;
  private providerDiagnostics = 0;
  private rejectedObjects = 0;
  private live: ApplyResult | undefined;
  private liveIR: IR | undefined;
  /** When the latest translation was made / the live configuration acknowledged (condition times). */
  private translatedAt = nowRfc3339();
  private appliedAt = nowRfc3339();
  private changedCache: { latest: IR; live: IR; changed: ReadonlySet<string> } | undefined;
  private applying = false;
  /** Gives back the young generation a burst of work grew, once things are quiet (memory.ts). */
  private readonly memory = new MemorySettler();
  private firstLive: (() => void) | undefined;
  /** Resolves once the first configuration is live in the data plane. */
  readonly firstApplied: Promise<void>;
  private readonly counters = {
    translations: 0,
    translateErrors: 0,
    translateSecondsSum: 0,
    translateSecondsLast: 0,
    reloads: 0,
    reloadErrors: 0,
  };

  constructor(options: ControllerOptions) {
    this.controllerName = options.controllerName;
    this.dataPlane = options.dataPlane;
    this.bindAddress = options.bindAddress ?? '0.0.0.0';
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.onStatusChange = options.onStatusChange ?? (() => {});
    this.firstApplied = new Promise((resolve) => { this.firstLive = resolve; });
  }

  /** Feeds one snapshot through translate() and on to the data plane. Never throws. */
  update(snapshot: Snapshot): void {
    if (snapshot === this.lastSnapshot) return;
    this.lastSnapshot = snapshot;
    this.snapshotGeneration = snapshot.generation;
    this.providerDiagnostics = snapshot.diagnostics.length;
    this.rejectedObjects = snapshot.rejected?.length ?? 0;
    const previous = this.previous;
    const started = performance.now();
    let result: TranslateResult;
    let owned: readonly OwnedStatus[];
    try {
      const now = nowRfc3339();
      // `previous` is exactly the last result's statuses when no rejected object added its own.
      result = this.translator.translate(snapshot, { now, previous, controllerName: this.controllerName, previousIsLast: this.owned === this.latest?.statuses });
      owned = addRejectedStatuses(result.statuses, snapshot, { now, previous, controllerName: this.controllerName, ir: result.ir });
    } catch (err) {
      this.counters.translateErrors++;
      this.log(`portico: translating snapshot ${snapshot.generation} failed, keeping the previous configuration: ${describe(err)}`);
      return;
    }
    const seconds = (performance.now() - started) / 1000;
    this.counters.translations++;
    this.counters.translateSecondsSum += seconds;
    this.counters.translateSecondsLast = seconds;
    for (const d of result.diagnostics) this.log(`portico: ${d.object}: ${d.message}`);
    const before = this.owned;
    this.latest = result;
    this.owned = owned;
    rememberStatuses(this.previous, before, owned);
    this.translatedAt = nowRfc3339();
    this.notify();
    void this.applyLatest();
  }

  private async applyLatest(): Promise<void> {
    if (this.applying) return; // the running loop picks up the newest result
    this.applying = true;
    try {
      while (this.latest && this.latest.ir !== this.liveIR) {
        const ir = this.latest.ir;
        if (this.live && this.liveIR && sameConfiguration(ir, this.liveIR)) {
          // Nothing to program (e.g. only a status or an unrelated object changed): what is live
          // already is this generation. Without this, every status write that comes back as a
          // new snapshot (Kubernetes mode) would flip Programmed to Pending and back, forever.
          this.live = { ...this.live, generation: ir.generation };
          this.liveIR = ir;
          this.notify();
          continue;
        }
        try {
          const result = await this.dataPlane.apply(ir);
          this.counters.reloads++;
          this.live = result;
          this.liveIR = ir;
          this.appliedAt = nowRfc3339();
          this.log(`portico: configuration generation ${ir.generation} is live`);
          const errors = Object.entries(result.bindErrors);
          for (const [where, message] of errors) this.log(`portico: cannot listen on ${where}: ${message}`);
          this.firstLive?.();
          this.firstLive = undefined;
          this.notify();
          this.memory.touch();
        } catch (err) {
          this.counters.reloadErrors++;
          this.log(`portico: the data plane rejected configuration generation ${ir.generation}: ${describe(err)}`);
          if (this.latest.ir === ir) break; // wait for the next snapshot rather than retrying in a loop
        }
      }
    } finally {
      this.applying = false;
    }
  }

  private notify(): void {
    try {
      this.onStatusChange();
    } catch (err) {
      this.log(`portico: status listener failed: ${describe(err)}`);
    }
  }

  /** True once a configuration is live in the data plane. */
  ready(): boolean {
    return this.live !== undefined;
  }

  /** The statuses of the latest translation, with Programmed gated on what is live. */
  statuses(): OwnedStatus[] {
    if (!this.latest) return [];
    // Conditions the gating changes are stamped with the time of the event that caused the
    // change, so that asking twice gives the same status (no needless status writes).
    const behind = !this.live || this.live.generation < this.latest.ir.generation;
    return gateProgrammed(this.owned, this.latest.ir, this.live, {
      now: behind ? this.translatedAt : this.appliedAt,
      bindAddress: this.bindAddress,
      changed: behind ? this.changedObjects() : undefined,
    });
  }

  /**
   * The Gateways (and their ListenerSets) whose part of the latest IR differs from the live IR:
   * only they wait for the data plane. A route change on one Gateway leaves the others Programmed.
   */
  private changedObjects(): ReadonlySet<string> | undefined {
    const latest = this.latest?.ir;
    const live = this.liveIR;
    if (!latest || !live) return undefined;
    if (this.changedCache?.latest === latest && this.changedCache.live === live) return this.changedCache.changed;
    const key = (s: { kind: string; namespace?: string; name: string }) => `${s.kind}/${s.namespace ?? 'default'}/${s.name}`;
    const before = new Map(live.gateways.map((g) => [key(g.source), g]));
    const changed = new Set<string>();
    for (const g of latest.gateways) {
      const was = before.get(key(g.source));
      if (was && deepEqual(was, g)) continue;
      changed.add(key(g.source));
      for (const l of g.listeners) if (l.source.kind === 'ListenerSet') changed.add(key(l.source));
    }
    this.changedCache = { latest, live, changed };
    return changed;
  }

  /** The IR of the latest translation (what is, or is about to be, live). */
  config(): IR | undefined {
    return this.latest?.ir;
  }

  /** Prometheus text exposition of the control plane's own metrics. */
  metrics(): string {
    const c = this.counters;
    const lines = [
      metric('portico_controller_snapshot_generation', 'gauge', 'Generation of the latest snapshot read by the provider.', this.snapshotGeneration),
      metric('portico_controller_applied_generation', 'gauge', 'Generation of the configuration live in the data plane (0: none yet).', this.live?.generation ?? 0),
      metric('portico_controller_provider_diagnostics', 'gauge', 'Problems the provider reports in the latest snapshot (e.g. files that do not parse).', this.providerDiagnostics),
      metric('portico_controller_rejected_objects', 'gauge', 'Objects in the manifests the API server would refuse (not served; their status says why).', this.rejectedObjects),
      metric('portico_controller_translations_total', 'counter', 'Snapshots translated.', c.translations),
      metric('portico_controller_translate_errors_total', 'counter', 'Translations that failed (the previous configuration was kept).', c.translateErrors),
      `# HELP portico_controller_translate_duration_seconds Time spent in translate().\n# TYPE portico_controller_translate_duration_seconds summary\nportico_controller_translate_duration_seconds_sum ${c.translateSecondsSum}\nportico_controller_translate_duration_seconds_count ${c.translations}`,
      metric('portico_controller_translate_last_duration_seconds', 'gauge', 'Duration of the latest translate().', c.translateSecondsLast),
      metric('portico_controller_reloads_total', 'counter', 'Configurations applied to the data plane.', c.reloads),
      metric('portico_controller_reload_errors_total', 'counter', 'Configurations the data plane failed to apply.', c.reloadErrors),
      metric('portico_controller_bind_errors', 'gauge', 'Listeners the data plane could not bind in the live configuration.', Object.keys(this.live?.bindErrors ?? {}).length),
    ];
    return `${lines.join('\n')}\n`;
  }
}

/**
 * Makes `map` (statuses by key, as they were in `before`) hold exactly `owned` by key. Both lists
 * are sorted by key with unique keys, and mostly share their status objects: only the entries
 * that differ are visited in the map, not every status of every object.
 */
export function rememberStatuses(map: Map<string, unknown>, before: readonly OwnedStatus[], owned: readonly OwnedStatus[]): void {
  let i = 0;
  let j = 0;
  while (i < before.length || j < owned.length) {
    const a = before[i];
    const b = owned[j];
    if (a !== undefined && b !== undefined && (a === b || a.key === b.key)) {
      if (a.status !== b.status) map.set(b.key, b.status);
      i++;
      j++;
    } else if (b === undefined || (a !== undefined && a.key < b.key)) {
      map.delete(a!.key);
      i++;
    } else {
      map.set(b.key, b.status);
      j++;
    }
  }
}

/** Whether two IRs program the same thing (everything but the generation is equal). */
export function sameConfiguration(a: IR, b: IR): boolean {
  return deepEqual(a.gateways, b.gateways) && deepEqual(a.backends, b.backends);
}

/** Structural equality that stops early on shared sub-trees (the incremental translator reuses them). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function metric(name: string, type: 'gauge' | 'counter', help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
