// One informer per resource: list, then watch from the list's resourceVersion with bookmarks,
// keeping a cache of every object by key. It never stops silently: a watch that ends is resumed
// from the last resourceVersion seen; 410 Gone (history compacted) relists; any other error is
// retried with exponential backoff. The one terminal state is "gone" (404: the CRD was removed),
// which the provider handles by rediscovering.
import type { KubeObject } from '../../api/meta.ts';
import { KubeApiError, resourcePath } from './client.ts';
import type { KubeClient, WatchEvent } from './client.ts';
import type { ResourceInfo } from './discovery.ts';

export interface InformerOptions {
  /** Called after every change of the cache (event, relist). Cheap: the provider debounces. */
  onChange: () => void;
  /**
   * Called once when the resource is no longer served (404). The informer has stopped; its cache
   * is left as it was, for the owner to drop or to keep until another version's informer has
   * listed. Without this option the cache is emptied.
   */
  onGone?: (message: string) => void;
  log?: (message: string) => void;
  /** Server-side watch timeout; a new watch starts from the last resourceVersion after it. */
  watchTimeoutSeconds?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  pageSize?: number;
  /**
   * Ask for metadata only (PartialObjectMetadata): for kinds whose bulk (a CRD's schema) is not
   * needed. The objects' kind and apiVersion are then the resource's.
   */
  metadataOnly?: boolean;
  /** Keeps only the objects it returns (what it returns is cached); others are left out. */
  keep?: (obj: KubeObject) => KubeObject | undefined;
}

/** What an informer needs to know of its resource (discovery's ResourceInfo, or a fixed one). */
export interface InformerResource {
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  apiVersion: string;
}

const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_ONE = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

export class Informer<R extends InformerResource = ResourceInfo> {
  readonly resource: R;
  /** Objects by snapshot key ("namespace/name" or "name"). Replaced objects are never mutated. */
  readonly cache = new Map<string, KubeObject>();
  /** The latest problem (cleared when a list or watch succeeds), for diagnostics. */
  lastError: string | undefined;
  /** Counters, for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, errors: 0, events: 0 };

  private readonly client: KubeClient;
  private readonly options: InformerOptions;
  private resourceVersion: string | undefined;
  private syncedFlag = false;
  private readonly syncWaiters: (() => void)[] = [];
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private stopped = false;
  private goneFlag = false;

  constructor(client: KubeClient, resource: R, options: InformerOptions) {
    this.client = client;
    this.resource = resource;
    this.options = options;
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  /** Whether the resource turned out not to be served (404); the informer has stopped. */
  get isGone(): boolean {
    return this.goneFlag;
  }

  start(): void {
    if (!this.running) this.running = this.run();
  }

  /** Resolves once the first list has landed in the cache (or the informer stopped). */
  waitSynced(): Promise<void> {
    if (this.syncedFlag || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.releaseWaiters();
    await this.running;
  }

  private async run(): Promise<void> {
    const initial = this.options.backoffInitialMs ?? 500;
    const max = this.options.backoffMaxMs ?? 30_000;
    let delay = initial;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        const started = Date.now();
        const receivedEvents = await this.watchOnce();
        // A watch that lived a while or delivered events proves the connection is healthy.
        if (receivedEvents || Date.now() - started > 5_000) delay = initial;
        else await this.sleep(Math.min(delay, 1_000));
        this.lastError = undefined;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof KubeApiError && err.status === 410) {
          // Our resourceVersion is too old: relist right away.
          this.resourceVersion = undefined;
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404) {
          this.gone(`${this.resource.plural}.${this.resource.group || 'core'} is no longer served: ${err.message}`);
          break;
        }
        this.stats.errors++;
        this.lastError = (err as Error).message;
        this.options.log?.(`kubernetes: ${this.resource.plural}: ${this.lastError}; retrying in ${delay} ms`);
        await this.sleep(delay);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  private async list(): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, KubeObject>();
    let continueToken: string | undefined;
    let rv: string | undefined;
    do {
      const page = await this.client.request<{ metadata?: { resourceVersion?: string; continue?: string }; items?: Record<string, any>[] }>(
        'GET', resourcePath(this.resource),
        {
          query: { limit: this.options.pageSize ?? 500, continue: continueToken },
          timeoutMs: 60_000,
          signal: this.abort.signal,
          ...(this.options.metadataOnly ? { accept: METADATA_LIST } : {}),
        },
      );
      rv = page.metadata?.resourceVersion ?? rv;
      for (const item of page.items ?? []) {
        const obj = this.normalize(item);
        const kept = obj && this.options.keep ? this.options.keep(obj) : obj;
        if (kept) fresh.set(this.keyOf(kept), kept);
      }
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken && !this.stopped);
    if (this.stopped) return;
    this.cache.clear();
    for (const [k, v] of fresh) this.cache.set(k, v);
    this.resourceVersion = rv;
    this.lastError = undefined;
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      this.releaseWaiters();
    }
    this.options.onChange();
  }

  /** One watch request; returns whether any ADDED/MODIFIED/DELETED event arrived. */
  private async watchOnce(): Promise<boolean> {
    this.stats.watches++;
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 60);
    let received = false;
    await this.client.watch(resourcePath(this.resource), (event) => {
      if (this.handle(event)) received = true;
    }, {
      query: { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      // Bookmarks arrive about once a minute; silence well past the server timeout means a dead connection.
      idleTimeoutMs: (timeoutSeconds + 60) * 1000,
      signal: this.abort.signal,
      ...(this.options.metadataOnly ? { accept: METADATA_ONE } : {}),
      onOpen: () => {
        // Healthy again: the problem reported in diagnostics is over.
        if (this.lastError === undefined) return;
        this.lastError = undefined;
        this.options.onChange();
      },
    });
    return received;
  }

  private handle(event: WatchEvent): boolean {
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; message?: string; reason?: string };
      throw new KubeApiError(status.code ?? 500, `watch ${this.resource.plural}: ${status.message ?? 'error event'}`, status.reason);
    }
    const rv = event.object?.metadata?.resourceVersion as string | undefined;
    if (event.type === 'BOOKMARK') {
      if (rv) this.resourceVersion = rv;
      return false;
    }
    const obj = this.normalize(event.object);
    if (!obj) return false;
    this.stats.events++;
    const key = this.keyOf(obj);
    const kept = this.options.keep ? this.options.keep(obj) : obj;
    if (event.type === 'DELETED' || !kept) this.cache.delete(key);
    else this.cache.set(key, kept);
    if (rv) this.resourceVersion = rv;
    this.options.onChange();
    return true;
  }

  /** List items of built-in kinds carry no apiVersion/kind; managedFields are never needed. */
  private normalize(item: Record<string, any> | undefined): KubeObject | undefined {
    if (!item || typeof item.metadata?.name !== 'string') return undefined;
    if (item.metadata.managedFields) delete item.metadata.managedFields;
    if (this.options.metadataOnly) {
      // PartialObjectMetadata names itself; what it describes is an object of our resource.
      item.apiVersion = this.resource.apiVersion;
      item.kind = this.resource.kind;
    }
    item.apiVersion ??= this.resource.apiVersion;
    item.kind ??= this.resource.kind;
    return item as KubeObject;
  }

  /** "namespace/name", or "name" for cluster-scoped resources (the snapshot's keys). */
  private keyOf(obj: KubeObject): string {
    return this.resource.namespaced ? `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}` : obj.metadata.name;
  }

  private gone(message: string): void {
    this.stopped = true;
    this.goneFlag = true;
    this.lastError = message;
    this.releaseWaiters();
    if (this.options.onGone) return this.options.onGone(message);
    if (this.cache.size > 0) {
      this.cache.clear();
      this.options.onChange();
    }
  }

  private releaseWaiters(): void {
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}
