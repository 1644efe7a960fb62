// The translation context: indexes over the snapshot built once per translate() call, so
// every lookup is a map access (translate of thousands of routes must stay linear).
import type { KubeObject } from '../api/meta.ts';
import { CONTROLLER_NAME } from '../api/meta.ts';
import { LABEL_SERVICE_NAME } from '../api/core.ts';
import type { Snapshot, SnapshotKind } from '../providers/snapshot.ts';
import { objectKey } from '../providers/snapshot.ts';
import type { TranslateOptions } from './index.ts';
import { obj, strMap } from './util.ts';

export interface Diagnostic {
  object: string;
  message: string;
}

export class Context {
  readonly snapshot: Snapshot;
  readonly options: TranslateOptions;
  readonly controllerName: string;
  readonly diagnostics: Diagnostic[] = [];
  private readonly slicesByService: Map<string, KubeObject[]> = new Map();
  private readonly sortedCache = new Map<SnapshotKind, KubeObject[]>();

  /**
   * `reuse`: the context of a previous translation, whose indexes of kinds whose map is the
   * same in both snapshots are taken over instead of built again (incremental translator).
   */
  constructor(snapshot: Snapshot, options: TranslateOptions, reuse?: Context) {
    this.snapshot = snapshot;
    this.options = options;
    this.controllerName = options.controllerName ?? CONTROLLER_NAME;
    if (reuse) {
      for (const [kind, list] of reuse.sortedCache) {
        if (snapshot.objects.get(kind) === reuse.snapshot.objects.get(kind)) this.sortedCache.set(kind, list);
      }
      if (snapshot.objects.get('EndpointSlice') === reuse.snapshot.objects.get('EndpointSlice')) {
        this.slicesByService = reuse.slicesByService;
        return;
      }
    }
    for (const slice of this.list('EndpointSlice')) {
      const svc = strMap(slice.metadata.labels)[LABEL_SERVICE_NAME];
      if (!svc) continue;
      const key = `${slice.metadata.namespace}/${svc}`;
      const list = this.slicesByService.get(key);
      if (list) list.push(slice);
      else this.slicesByService.set(key, [slice]);
    }
  }

  get(kind: SnapshotKind, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.snapshot.objects.get(kind)?.get(objectKey(kind, namespace, name));
  }

  /** Objects of a kind sorted by key, with a usable metadata.name (cached). */
  list(kind: SnapshotKind): KubeObject[] {
    let out = this.sortedCache.get(kind);
    if (!out) {
      const m = this.snapshot.objects.get(kind);
      out = [];
      if (m) {
        // Keys sorted by the default sort (UTF-16 code units, the order cmpStr gives), then looked up.
        const keys = [...m.keys()].sort();
        for (const k of keys) {
          const o = m.get(k)!;
          if (typeof obj(o.metadata).name === 'string') out.push(o);
        }
      }
      this.sortedCache.set(kind, out);
    }
    return out;
  }

  /** Labels of a namespace; kubernetes.io/metadata.name is always present, as in a cluster. */
  namespaceLabels(ns: string): Record<string, string> {
    const o = this.get('Namespace', undefined, ns);
    return { ...strMap(o ? obj(o.metadata).labels : undefined), 'kubernetes.io/metadata.name': ns };
  }

  endpointSlices(namespace: string, service: string): KubeObject[] {
    return this.slicesByService.get(`${namespace}/${service}`) ?? [];
  }

  diag(object: string, message: string): void {
    this.diagnostics.push({ object, message });
  }
}

export function keyOf(o: KubeObject): string {
  const ns = o.metadata.namespace;
  return ns === undefined || o.kind === 'GatewayClass' || o.kind === 'Namespace'
    ? `${o.kind}/${o.metadata.name}` : `${o.kind}/${ns}/${o.metadata.name}`;
}

export function nsName(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}
