// The file provider: reads manifests (files and directories, recursively; YAML or JSON;
// multi-document; `kind: List`) into a Snapshot, and in watch mode publishes a new Snapshot
// shortly after any of them changes.
//
// It fills in what the API server would: the namespace `default`, metadata.generation (bumped
// when anything but metadata and status changes), a stable uid and a creationTimestamp (the
// file's mtime when the object was first seen). A file that does not parse keeps its last good
// objects and says so in snapshot.diagnostics. Objects the API server would refuse are not
// admitted (admission.ts): the last valid version of each keeps serving, and snapshot.rejected
// says why. Nothing here throws on bad input.
import { createHash } from 'node:crypto';
import { watch as fsWatch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { KubeObject } from '../../api/meta.ts';
import { buildSnapshot, CLUSTER_SCOPED, isSnapshotKind } from '../snapshot.ts';
import type { ProviderDiagnostic, RejectedObject, Snapshot } from '../snapshot.ts';
import { Admission } from './admission.ts';
import { parseManifest } from './parse.ts';
import type { ParsedFile, ParsedObject } from './parse.ts';

export interface FileProviderOptions {
  /** Files and directories given with -f. */
  paths: string[];
  /** Where diagnostics are reported when they first appear (default: stderr). */
  log?: (line: string) => void;
  /** Quiet period after a file system event before re-reading (ms). */
  debounceMs?: number;
}

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;
/** A file whose mtime was this far in the past when it was read is not re-read while its stat is unchanged. */
const MTIME_TRUST_MS = 2000;
const GATEWAY_GROUPS = /^gateway\.networking\.(x-)?k8s\.io\//;

interface FileState {
  text: string;
  mtimeMs: number;
  size: number;
  ino: number;
  /** When the text was read (ms since epoch). */
  readAt: number;
  parsed: ParsedFile;
  /** Objects of the last version of this file that parsed. */
  lastGood?: ParsedObject[];
}

/** What the provider remembers about each object, so metadata stays stable between reads. */
interface ObjectMemory {
  contentHash: string;
  generation: number;
  creationTimestamp: string;
}

export class FileProvider {
  private readonly paths: string[];
  private readonly log: (line: string) => void;
  private readonly debounceMs: number;
  private readonly files = new Map<string, FileState>();
  private readonly memory = new Map<string, ObjectMemory>();
  private readonly locations = new Map<string, string>();
  /** The filled copy of each parsed object, reused while its file and memory are unchanged. */
  private readonly filled = new WeakMap<ParsedObject, { object: KubeObject; key: string; contentHash: string }>();
  private readonly admission = new Admission();
  private previousObjects: KubeObject[] = [];
  private previousRejected: RejectedObject[] = [];
  private previousDiagnostics = '';
  private readonly watchers = new Map<string, FSWatcher>();
  private current: Snapshot = buildSnapshot([], 0);
  private reported = new Set<string>();
  private reloading: Promise<boolean> | undefined;
  private reloadAgain = false;
  /**
   * Files the watcher reported since the last read. The next read re-reads only them (the others
   * are known unchanged: any write to them would have been reported too), unless `dirtyAll`.
   */
  private readonly dirty = new Set<string>();
  private dirtyAll = true;
  /** Where reading each file (and listing the paths) last went wrong, kept for reads that skip them. */
  private readDiagnostics = new Map<string, ProviderDiagnostic[]>();
  private listDiagnostics: ProviderDiagnostic[] = [];
  private listed: string[] = [];
  private reads = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(options: FileProviderOptions) {
    this.paths = options.paths.map((p) => resolve(p));
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    // Short: a save is one or two events in a row; a burst (checkout, copy) keeps postponing it.
    this.debounceMs = options.debounceMs ?? 3;
  }

  /** The latest published snapshot (generation 0 before the first reload). */
  snapshot(): Snapshot {
    return this.current;
  }

  /** How many times a file's text was read so far (in watch mode, only the files that changed). */
  fileReads(): number {
    return this.reads;
  }

  /** How many object versions were validated so far (each new or changed object once). */
  validations(): number {
    return this.admission.validations;
  }

  /** "file:line" where an object was read, by "Kind/namespace/name" (or "Kind/name"). */
  locationOf(key: string): string | undefined {
    return this.locations.get(key);
  }

  /**
   * Re-reads every file and publishes a new snapshot if anything changed. Returns whether it
   * did. Concurrent calls are folded: a call during a reload causes one more reload after it.
   */
  reload(): Promise<boolean> {
    this.dirtyAll = true;
    return this.reloadDirty();
  }

  /** As reload(), re-reading only the files the watcher reported (all of them after reload()). */
  private reloadDirty(): Promise<boolean> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      let changed = false;
      do {
        this.reloadAgain = false;
        try {
          changed = (await this.readAll()) || changed;
        } catch (err) {
          // Defensive: reading must never take the process down.
          this.log(`portico: reading manifests failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      } while (this.reloadAgain && !this.closed);
      this.reloading = undefined;
      return changed;
    })();
    return this.reloading;
  }

  /**
   * Watches every path and calls onSnapshot with each new snapshot. Call after the first
   * reload(). Every directory of a directory path is watched (one watcher each: Node's recursive
   * watch on Linux re-scans a whole folder on each file created, milliseconds with thousands of
   * files); a file is watched through its directory, so that editors which replace files on
   * save are seen too.
   */
  watch(onSnapshot: (snapshot: Snapshot) => void): void {
    const schedule = (file?: string) => {
      if (this.closed) return;
      if (file === undefined) this.dirtyAll = true;
      else this.dirty.add(file);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        void this.reloadDirty().then((changed) => {
          // A directory that appeared: files written in it before its watcher was set up are
          // found by one more full read.
          if (this.ensureWatchers(schedule)) schedule();
          if (changed && !this.closed) onSnapshot(this.current);
        });
      }, this.debounceMs);
    };
    this.ensureWatchers(schedule);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** Sets up missing watchers and closes those of directories gone. Returns whether a directory watcher was added. */
  private ensureWatchers(onEvent: (file?: string) => void): boolean {
    if (this.closed) return false;
    const wanted = new Map<string, { target: string; path: string; isDir: boolean }>();
    for (const path of this.paths) {
      if (this.isDirectory(path)) continue;
      wanted.set(`f:${dirname(path)}`, { target: dirname(path), path, isDir: false });
    }
    for (const dir of this.watchedDirectories) wanted.set(`d:${dir}`, { target: dir, path: dir, isDir: true });
    for (const [key, w] of this.watchers) {
      if (!wanted.has(key)) {
        w.close();
        this.watchers.delete(key);
      }
    }
    let added = false;
    const first = this.watchers.size === 0;
    for (const [key, { target, path, isDir }] of wanted) {
      if (this.watchers.has(key)) continue;
      try {
        const name = basename(path);
        const watcher = fsWatch(target, { persistent: true }, (_event, filename) => {
          if (filename === null) onEvent();
          else if (isDir) onEvent(join(target, filename.toString()));
          else if (filename === name) onEvent(path);
        });
        watcher.on('error', () => {
          // The directory went away; forget the watcher so the next reload sets it up again.
          watcher.close();
          this.watchers.delete(key);
          onEvent();
        });
        this.watchers.set(key, watcher);
        if (isDir && !first) added = true;
      } catch {
        // Nothing to watch yet (the parent directory does not exist); the path is reported in diagnostics.
      }
    }
    return added;
  }

  private readonly directories = new Set<string>();
  /** The directory paths and every directory under them but hidden ones, as last listed. */
  private watchedDirectories = new Set<string>();

  private isDirectory(path: string): boolean {
    return this.directories.has(path);
  }

  /**
   * One read: of every file, or after watcher events naming only manifest files, of those files
   * (the listing is redone when one of them is new or gone). Returns whether the published
   * snapshot changed.
   */
  private async readAll(): Promise<boolean> {
    const only = this.dirtyAll ? undefined : new Set(this.dirty);
    this.dirty.clear();
    this.dirtyAll = false;
    if (only !== undefined && ![...only].every((f) => this.files.has(f) || this.isManifestPath(f))) {
      return this.readAllAgain();
    }
    let files = this.listed;
    if (only === undefined || [...only].some((f) => !this.files.has(f)) || !(await allFiles(only))) {
      this.listDiagnostics = [];
      files = await this.listFiles(this.listDiagnostics);
      this.listed = files;
    }
    const diagnostics: ProviderDiagnostic[] = [...this.listDiagnostics];
    const seen = new Set<string>();
    const parsedObjects: ParsedObject[] = [];
    const mtimes = new Map<ParsedObject, number>();

    const readDiagnostics = new Map<string, ProviderDiagnostic[]>();
    const states = await Promise.all(files.map((file) => {
      const previous = this.files.get(file);
      if (only !== undefined && previous !== undefined && !only.has(file)) {
        const kept = this.readDiagnostics.get(file);
        if (kept) readDiagnostics.set(file, kept);
        return previous;
      }
      const d: ProviderDiagnostic[] = [];
      readDiagnostics.set(file, d);
      return this.readFileState(file, d);
    }));
    this.readDiagnostics = readDiagnostics;
    for (const [i, file] of files.entries()) {
      seen.add(file);
      diagnostics.push(...(readDiagnostics.get(file) ?? []));
      const state = states[i];
      if (!state) continue;
      const { parsed } = state;
      diagnostics.push(...parsed.warnings);
      let objects: ParsedObject[];
      if (parsed.errors.length === 0) {
        objects = parsed.objects;
        state.lastGood = objects;
      } else {
        const kept = state.lastGood?.length ?? 0;
        for (const e of parsed.errors) {
          diagnostics.push({ where: e.where, message: `${e.message} (keeping the last good version of this file: ${kept} object${kept === 1 ? '' : 's'})` });
        }
        objects = state.lastGood ?? [];
      }
      for (const o of objects) {
        parsedObjects.push(o);
        mtimes.set(o, state.mtimeMs);
      }
    }
    for (const file of this.files.keys()) if (!seen.has(file)) this.files.delete(file);

    const { objects, rejected } = this.fillMetadata(parsedObjects, mtimes, diagnostics);
    this.reportNew(diagnostics);
    // Unchanged files give the very same object instances, so comparing identities is enough.
    const diagnosticsText = JSON.stringify(diagnostics);
    const same = diagnosticsText === this.previousDiagnostics && sameInstances(objects, this.previousObjects)
      && sameInstances(rejected.map((r) => r.object), this.previousRejected.map((r) => r.object));
    if (same && this.current.generation > 0) return false;
    this.previousObjects = objects;
    this.previousRejected = rejected;
    this.previousDiagnostics = diagnosticsText;
    const snapshot = buildSnapshot(objects, this.current.generation + 1, diagnostics);
    this.current = rejected.length > 0 ? { ...snapshot, rejected } : snapshot;
    return true;
  }

  /** A full read, for events that name something other than manifest files. */
  private readAllAgain(): Promise<boolean> {
    this.dirtyAll = true;
    return this.readAll();
  }

  /** Whether a path the watcher reported is a manifest file the listing would include (if it exists). */
  private isManifestPath(file: string): boolean {
    if (!MANIFEST_EXTENSIONS.test(file)) return false;
    return this.paths.some((p) => this.directories.has(p) && file.startsWith(`${p}/`) && !file.slice(p.length).split('/').some((seg) => seg.startsWith('.')));
  }

  private async listFiles(diagnostics: ProviderDiagnostic[]): Promise<string[]> {
    const out = new Set<string>();
    this.directories.clear();
    const watched = new Set<string>();
    for (const path of this.paths) {
      let info;
      try {
        info = await stat(path);
      } catch (err) {
        diagnostics.push({ where: path, message: fsMessage(err) });
        continue;
      }
      if (!info.isDirectory()) {
        out.add(path);
        continue;
      }
      this.directories.add(path);
      watched.add(path);
      try {
        const entries = await readdir(path, { recursive: true, withFileTypes: true });
        const found: string[] = [];
        for (const e of entries) {
          if (e.isDirectory()) {
            const d = join(e.parentPath, e.name);
            if (!d.slice(path.length).split('/').some((seg) => seg.startsWith('.'))) watched.add(d);
            continue;
          }
          if (!MANIFEST_EXTENSIONS.test(e.name) || !(e.isFile() || e.isSymbolicLink())) continue;
          const f = join(e.parentPath, e.name);
          if (f.slice(path.length).split('/').some((seg) => seg.startsWith('.'))) continue;
          // Symbolic links are followed (a mounted ConfigMap is made of them).
          if (e.isSymbolicLink() && !(await stat(f).then((i) => i.isFile(), () => false))) continue;
          found.push(f);
        }
        for (const f of found.sort()) out.add(f);
      } catch (err) {
        diagnostics.push({ where: path, message: fsMessage(err) });
      }
    }
    this.watchedDirectories = watched;
    return [...out];
  }

  private async readFileState(file: string, diagnostics: ProviderDiagnostic[]): Promise<FileState | undefined> {
    const previous = this.files.get(file);
    let text: string;
    let info;
    let readAt: number;
    try {
      info = await stat(file);
      // Unchanged since the last read: same inode, size and mtime, and the mtime was already
      // well in the past when we read it (so a write in the same clock tick cannot hide).
      if (previous && previous.ino === info.ino && previous.size === info.size && previous.mtimeMs === info.mtimeMs
        && previous.readAt - info.mtimeMs > MTIME_TRUST_MS) {
        return previous;
      }
      readAt = Date.now();
      this.reads++;
      text = await readFile(file, 'utf8');
    } catch (err) {
      // Vanished between listing and reading, or unreadable: keep what we had, if anything.
      diagnostics.push({ where: file, message: fsMessage(err) });
      return previous;
    }
    const identity = { mtimeMs: info.mtimeMs, size: info.size, ino: info.ino, readAt };
    if (previous && previous.text === text) return Object.assign(previous, identity);
    const state: FileState = { text, ...identity, parsed: parseManifest(file, text), lastGood: previous?.lastGood };
    this.files.set(file, state);
    return state;
  }

  /**
   * Copies the parsed objects, fills in the metadata the API server would have set and admits
   * them (or refuses them) as the API server would.
   */
  private fillMetadata(parsed: ParsedObject[], mtimes: Map<ParsedObject, number>, diagnostics: ProviderDiagnostic[]): { objects: KubeObject[]; rejected: RejectedObject[] } {
    const out = { objects: [] as KubeObject[], rejected: [] as RejectedObject[], diagnostics };
    const present = new Set<string>();
    this.locations.clear();
    this.admission.begin();
    for (const p of parsed) {
      const cached = this.filled.get(p);
      if (cached) {
        const mem = this.memory.get(cached.key);
        const meta = cached.object.metadata;
        if (mem && mem.contentHash === cached.contentHash && mem.creationTimestamp === meta.creationTimestamp
          && (mem.generation === meta.generation || p.object.metadata.generation !== undefined)) {
          const earlier = this.locations.get(cached.key);
          if (earlier) diagnostics.push({ where: p.where, message: `${cached.key} is also defined at ${earlier}; this later definition wins` });
          this.locations.set(cached.key, p.where);
          present.add(cached.key);
          this.admission.admit(cached.key, cached.object, cached.contentHash, p.where, out);
          continue;
        }
      }
      const kind = p.object.kind;
      if (!isSnapshotKind(kind)) {
        if (GATEWAY_GROUPS.test(p.object.apiVersion)) {
          diagnostics.push({ where: p.where, message: `kind ${kind} of ${p.object.apiVersion} is not one Portico reads; ignored` });
        }
        continue;
      }
      // Only the top level and metadata are ours to fill: the rest is shared with the parsed
      // object, which nothing mutates (a deep copy doubled the memory of every object).
      const obj: KubeObject = { ...p.object, metadata: { ...p.object.metadata } };
      if (!CLUSTER_SCOPED.has(kind) && !obj.metadata.namespace) obj.metadata.namespace = 'default';
      const key = CLUSTER_SCOPED.has(kind) ? `${kind}/${obj.metadata.name}` : `${kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
      const earlier = this.locations.get(key);
      if (earlier) diagnostics.push({ where: p.where, message: `${key} is also defined at ${earlier}; this later definition wins` });
      this.locations.set(key, p.where);
      present.add(key);

      const contentHash = hashContent(obj);
      let mem = this.memory.get(key);
      if (!mem) {
        mem = { contentHash, generation: 1, creationTimestamp: rfc3339(mtimes.get(p) ?? Date.now()) };
        this.memory.set(key, mem);
      } else if (mem.contentHash !== contentHash) {
        mem.contentHash = contentHash;
        mem.generation += 1;
      }
      const meta = obj.metadata;
      if (meta.generation === undefined) meta.generation = mem.generation;
      if (meta.creationTimestamp === undefined) meta.creationTimestamp = mem.creationTimestamp;
      if (meta.uid === undefined) meta.uid = stableUid(key);
      // The API server labels every Namespace with its name; allowedRoutes selectors rely on it.
      if (kind === 'Namespace') meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': meta.name };
      this.filled.set(p, { object: obj, key, contentHash });
      this.admission.admit(key, obj, contentHash, p.where, out);
    }
    // An object that disappeared and comes back later is a new object, as in a cluster.
    for (const key of this.memory.keys()) if (!present.has(key)) this.memory.delete(key);
    this.admission.end();
    return { objects: out.objects, rejected: out.rejected };
  }

  private reportNew(diagnostics: ProviderDiagnostic[]): void {
    const now = new Set(diagnostics.map((d) => `${d.where}: ${d.message}`));
    for (const line of now) if (!this.reported.has(line)) this.log(`portico: ${line}`);
    this.reported = now;
  }
}

/** Reads the paths once. */
export async function loadSnapshot(paths: string[], log?: (line: string) => void): Promise<{ snapshot: Snapshot; provider: FileProvider }> {
  const provider = new FileProvider({ paths, log: log ?? (() => {}) });
  await provider.reload();
  return { snapshot: provider.snapshot(), provider };
}

/** Whether every path is (still) a regular file, following symbolic links. */
async function allFiles(paths: Iterable<string>): Promise<boolean> {
  const checks = await Promise.all([...paths].map((f) => stat(f).then((i) => i.isFile(), () => false)));
  return checks.every(Boolean);
}

function sameInstances(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Hash of everything the generation tracks: all but metadata and status. */
function hashContent(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...content } = obj;
  return createHash('sha256').update(stableJson(content)).digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A UUID-shaped value derived from the object's identity, the same on every run. */
function stableUid(key: string): string {
  const h = createHash('sha256').update(`portico/${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

let lastRfc3339: [number, string] = [NaN, ''];

/** RFC 3339 at second precision (the objects of one file share an mtime: one conversion). */
function rfc3339(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (lastRfc3339[0] !== second) lastRfc3339 = [second, new Date(second * 1000).toISOString().replace('.000Z', 'Z')];
  return lastRfc3339[1];
}

function fsMessage(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}
