// Writes translate()'s statuses to the status subresource, from the elected leader only.
//
// Each object's status is merged with what the cluster holds (status-merge.ts: only Portico's
// conditions and parents/ancestors entries change), compared against the informer cache, and
// written only when it differs: PUT .../status carrying the resourceVersion we merged against,
// so a concurrent writer makes us re-read (409) and merge again instead of overwriting it.
// Status computed from an older generation than the cluster now has is not written: the next
// snapshot carries the new generation. Routes and policies that still carry a Portico entry
// but are no longer among translate()'s results get that entry removed.
//
// Batches are serialized (objects within one are written a few at a time); when results arrive
// faster than they are written, only the latest is written. A replica that becomes leader writes
// the latest results it has.
import type { KubeObject } from '../../api/meta.ts';
import { CONTROLLER_NAME } from '../../api/meta.ts';
import type { OwnedStatus } from '../../translate/index.ts';
import { isSnapshotKind, objectKey } from '../snapshot.ts';
import type { SnapshotKind } from '../snapshot.ts';
import { KubeApiError, resourcePath } from './client.ts';
import type { KubeClient } from './client.ts';
import type { ResourceInfo } from './discovery.ts';
import { hasOwnEntries, isStatusKind, mergeStatus, removeOwnEntries, statusDiffers } from './status-merge.ts';
import { LatestRunner } from './latest-runner.ts';

/** What the writer needs from the provider: the client, resources and the informer caches. */
export interface StatusSource {
  readonly client: KubeClient;
  resource(kind: SnapshotKind): ResourceInfo | undefined;
  cached(kind: SnapshotKind, key: string): KubeObject | undefined;
  cachedObjects(kind: SnapshotKind): IterableIterator<KubeObject>;
}

export interface StatusWriterOptions {
  controllerName?: string;
  /** Only the leader writes; default: always (a single replica). */
  isLeader?: () => boolean;
  log?: (line: string) => void;
  /** Attempts per object on 409 Conflict (default 5). */
  maxConflictRetries?: number;
  /** Objects written at the same time (default 4). */
  concurrency?: number;
}

export interface WriteReport {
  written: number;
  unchanged: number;
  /** Stale (generation moved on), gone, or not the leader. */
  skipped: number;
  failed: number;
}

export class StatusWriter {
  private readonly source: StatusSource;
  private readonly controllerName: string;
  private readonly isLeader: () => boolean;
  private readonly log: (line: string) => void;
  private readonly maxRetries: number;
  private readonly concurrency: number;
  /** Keeps the latest results, so a new leader can write them. */
  private readonly runner: LatestRunner<readonly OwnedStatus[], WriteReport>;
  /**
   * The object each write returned, by "Kind/key": until the informer catches up, the cache
   * still shows the version we wrote against, and comparing against it would write again.
   */
  private readonly written = new Map<string, { basedOn: string | undefined; object: KubeObject }>();

  constructor(source: StatusSource, options: StatusWriterOptions = {}) {
    this.source = source;
    this.controllerName = options.controllerName ?? CONTROLLER_NAME;
    this.isLeader = options.isLeader ?? (() => true);
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.maxRetries = options.maxConflictRetries ?? 5;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.runner = new LatestRunner(
      (statuses) => this.writeAll(statuses),
      (err) => {
        this.log(`portico: writing status failed: ${err.message}`);
        return { written: 0, unchanged: 0, skipped: 0, failed: 1 };
      },
      { written: 0, unchanged: 0, skipped: 0, failed: 0 },
    );
  }

  /** Queues the statuses of one translation; resolves once they (or newer ones) are written. */
  write(statuses: readonly OwnedStatus[]): Promise<WriteReport> {
    return this.runner.run(statuses);
  }

  /** Writes the latest statuses again (call when this replica becomes leader). */
  resync(): Promise<WriteReport> {
    return this.runner.rerun();
  }

  /** Resolves when no write is in progress. */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** Stops retrying (the writer can still be used; pending writes finish). */
  stop(): void {
    this.runner.stop();
  }

  private async writeAll(statuses: readonly OwnedStatus[]): Promise<WriteReport> {
    const report: WriteReport = { written: 0, unchanged: 0, skipped: 0, failed: 0 };
    if (!this.isLeader()) {
      report.skipped = statuses.length;
      return report;
    }
    const owned = new Set<string>();
    const jobs: (() => Promise<void>)[] = [];
    for (const s of statuses) {
      owned.add(`${s.object.kind}/${objectKey(s.object.kind as SnapshotKind, s.object.metadata.namespace, s.object.metadata.name)}`);
      const kind = s.object.kind;
      if (!isSnapshotKind(kind) || !isStatusKind(kind)) continue;
      const generation = s.object.metadata.generation;
      jobs.push(() => this.writeOne(kind, s.object, report, (current) => {
        if (generation !== undefined && current.metadata.generation !== undefined && current.metadata.generation !== generation) return undefined;
        return mergeStatus(kind, current.status, s.status, this.controllerName, generation);
      }));
    }
    await this.runJobs(jobs, report);
    // No results at all means no translation yet (or one that failed), not "nothing is ours":
    // removing every Portico entry then would only make status flap.
    if (statuses.length > 0) await this.runJobs(this.staleEntryJobs(owned, report), report);
    return report;
  }

  /** Runs writes a few at a time (objects are independent), stopping if leadership is lost. */
  private async runJobs(jobs: (() => Promise<void>)[], report: WriteReport): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < jobs.length) {
        if (!this.isLeader()) {
          report.skipped += jobs.length - next;
          next = jobs.length;
          return;
        }
        await jobs[next++]();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, jobs.length) }, worker));
  }

  /** Routes and policies with a Portico entry that translate() no longer reports on. */
  private staleEntryJobs(owned: Set<string>, report: WriteReport): (() => Promise<void>)[] {
    const jobs: (() => Promise<void>)[] = [];
    for (const kind of ['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute', 'BackendTLSPolicy', 'XBackendTrafficPolicy'] as const) {
      for (const obj of [...this.source.cachedObjects(kind)]) {
        const key = `${kind}/${objectKey(kind, obj.metadata.namespace, obj.metadata.name)}`;
        if (owned.has(key) || !hasOwnEntries(kind, obj.status, this.controllerName)) continue;
        jobs.push(() => this.writeOne(kind, obj, report, (current) => removeOwnEntries(kind, current.status, this.controllerName)));
      }
    }
    return jobs;
  }

  /**
   * Read-merge-write of one object. `merge` returns the status to write for the given current
   * object, or undefined to skip. Retries with a fresh read on 409 Conflict.
   */
  private async writeOne(kind: SnapshotKind, object: KubeObject, report: WriteReport, merge: (current: KubeObject) => Record<string, unknown> | undefined): Promise<void> {
    const resource = this.source.resource(kind);
    if (!resource) {
      report.skipped++;
      return;
    }
    const key = objectKey(kind, object.metadata.namespace, object.metadata.name);
    const cacheKey = `${kind}/${key}`;
    let current = this.fromCache(kind, key, cacheKey);
    for (let attempt = 0; ; attempt++) {
      if (!current) {
        report.skipped++;
        return;
      }
      const status = merge(current);
      if (status === undefined) {
        report.skipped++;
        return;
      }
      if (!statusDiffers(status, current.status)) {
        report.unchanged++;
        return;
      }
      const path = resourcePath(resource, current.metadata.namespace, current.metadata.name, 'status');
      try {
        const body = { ...current, apiVersion: resource.apiVersion, kind, status };
        const result = await this.source.client.request<KubeObject>('PUT', path, { body });
        this.written.set(cacheKey, { basedOn: current.metadata.resourceVersion, object: result });
        report.written++;
        return;
      } catch (caught) {
        let err = caught;
        if (err instanceof KubeApiError && err.status === 409 && attempt < this.maxRetries) {
          try {
            current = await this.read(resource, current);
            continue;
          } catch (readErr) {
            err = readErr;
          }
        }
        if (err instanceof KubeApiError && err.status === 404) {
          report.skipped++;
          return;
        }
        report.failed++;
        this.log(`portico: status of ${cacheKey} not written: ${(err as Error).message}`);
        return;
      }
    }
  }

  /** The informer's object, or the one our last write returned if the informer has not caught up. */
  private fromCache(kind: SnapshotKind, key: string, cacheKey: string): KubeObject | undefined {
    const cached = this.source.cached(kind, key);
    const mine = this.written.get(cacheKey);
    if (!mine) return cached;
    if (cached && cached.metadata.resourceVersion !== mine.basedOn) {
      this.written.delete(cacheKey); // the informer has seen our write (or a later change)
      return cached;
    }
    return cached ? mine.object : undefined;
  }

  private async read(resource: ResourceInfo, current: KubeObject): Promise<KubeObject | undefined> {
    try {
      return await this.source.client.request<KubeObject>('GET', resourcePath(resource, current.metadata.namespace, current.metadata.name));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }
}
