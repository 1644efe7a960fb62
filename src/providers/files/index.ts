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
import { buildSnapshot, CLUSTER_SCOPED, crdBundleVersions, isSnapshotKind, objectKey } from '../snapshot.ts';
import type { ObjectKey, ProviderDiagnostic, RejectedObject, Snapshot, SnapshotKind } from '../snapshot.ts';
import { Admission } from './admission.ts';
import { contentHash } from './hash.ts';
import { PatchedMap } from './patched-map.ts';
import { parseManifest } from './parse.ts';
import type { ParsedFile, ParsedObject } from './parse.ts';

export interface FileProviderOptions {
  /** Files and directories given with -f. */
  paths: string[];
  /** Where diagnostics are reported when they first appear (default: stderr). */
  log?: (line: string) => void;
  /** Quiet period after a file system event before re-reading (ms). */
  debounceMs?: number;
  /**
   * After the first read, redo only the changed files' part of the snapshot (default true).
   * False: every read fills and admits every object again and builds the snapshot anew (tests
   * compare both).
   */
  incremental?: boolean;
}

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;
/** A file whose mtime was this far in the past when it was read is not re-read while its stat is unchanged. */
const MTIME_TRUST_MS = 2000;
const GATEWAY_GROUPS = /^gateway\.networking\.(x-)?k8s\.io\//;

interface FileState {
  /** SHA-1 of the text (the text itself is not kept: 30 MB at 40,000 routes). */
  digest: string;
  mtimeMs: number;
  size: number;
  ino: number;
  /** When the text was read (ms since epoch). */
  readAt: number;
  parsed: ParsedFile;
  /** Objects of the last version of this file that parsed. */
  lastGood?: ParsedObject[];
}

/**
 * What one file puts in the snapshot, made from one list of parsed objects (`from`). While that
 * list is the same (the file did not change) and no other file defines the same objects, it stays
 * valid: the metadata memory and admission verdict of its keys are touched by no one else.
 */
interface Contribution {
  from: readonly ParsedObject[];
  /** "Kind/ns/name" of each object of a snapshot kind it defines, in order. */
  keys: string[];
  /** Admitted objects (or the last valid version of refused ones), in order. */
  objects: KubeObject[];
  rejected: RejectedObject[];
  /** Diagnostics made while filling and admitting (ignored kinds, refusals). */
  diagnostics: ProviderDiagnostic[];
}

/** What the provider remembers about each object, so metadata stays stable between reads. */
interface ObjectMemory {
  generation: number;
  creationTimestamp: string;
  /**
   * The latest version filled under this key: the next version gets a new generation when its
   * content differs, and is this very instance when nothing differs.
   */
  object: KubeObject;
}

/** The objects a file gives this read (its last good version when it does not parse). */
interface FileObjects {
  file: string;
  objects: ParsedObject[];
  mtimeMs: number;
}

/** What an incremental read redoes. */
interface Delta {
  changed: FileObjects[];
  removed: string[];
  /** Keys the changed and removed files defined before this read. */
  freed: Set<string>;
}

export class FileProvider {
  private readonly paths: string[];
  private readonly log: (line: string) => void;
  private readonly debounceMs: number;
  private readonly files = new Map<string, FileState>();
  private readonly memory = new Map<string, ObjectMemory>();
  private readonly locations = new Map<string, string>();
  /** The filled copy of each parsed object, reused while its file and memory are unchanged. */
  private readonly filled = new WeakMap<ParsedObject, { object: KubeObject; key: string }>();
  private readonly admission = new Admission();
  /** crdBundleVersions() of each file's parsed objects (null: none). */
  private readonly crdsOf = new WeakMap<readonly ParsedObject[], Record<string, string> | null>();
  private readonly incremental: boolean;
  /** Each file's part of the current snapshot, in listing order. */
  private contributions = new Map<string, Contribution>();
  /** The file that defines each key (meaningless while `duplicates`). */
  private readonly owner = new Map<string, string>();
  /** Whether some object is defined more than once: reads are full ones until that is gone. */
  private duplicates = false;
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
  /** The files found under each path given (in the order given), each list sorted. */
  private rootLists: string[][] = [];
  private reads = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(options: FileProviderOptions) {
    this.paths = options.paths.map((p) => resolve(p));
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    // Short: a save is one or two events in a row; a burst (checkout, copy) keeps postponing it.
    this.debounceMs = options.debounceMs ?? 3;
    this.incremental = options.incremental !== false;
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
   * (a new file is added to the listing; the listing is redone when a file is gone). Returns
   * whether the published snapshot changed.
   */
  private async readAll(): Promise<boolean> {
    const only = this.dirtyAll ? undefined : new Set(this.dirty);
    this.dirty.clear();
    this.dirtyAll = false;
    if (only !== undefined) {
      const others = [...only].filter((f) => !this.files.has(f) && !this.isManifestPath(f));
      if (others.length > 0) {
        // Something other than a manifest file: a directory (new, gone, renamed) needs a full
        // read; a file that is not a manifest (a log, an editor's swap file) changes nothing.
        if (!(await this.notManifests(others))) return this.readAllAgain();
        for (const f of others) only.delete(f);
        if (only.size === 0) return false;
      }
    }
    let files = this.listed;
    if (only === undefined || [...only].some((f) => !this.files.has(f)) || !(await allFiles(only))) {
      if (only === undefined || !(await this.addListed(only))) {
        this.listDiagnostics = [];
        files = await this.listFiles(this.listDiagnostics);
        this.listed = files;
      } else {
        files = this.listed;
      }
    }
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
    const diagnostics: ProviderDiagnostic[] = [...this.listDiagnostics];
    const seen = new Set<string>();
    const listing: FileObjects[] = [];
    for (const [i, file] of files.entries()) {
      seen.add(file);
      const rd = readDiagnostics.get(file);
      if (rd !== undefined && rd.length > 0) diagnostics.push(...rd);
      const state = states[i];
      if (!state) continue;
      const { parsed } = state;
      if (parsed.warnings.length > 0) diagnostics.push(...parsed.warnings);
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
      listing.push({ file, objects, mtimeMs: state.mtimeMs });
    }
    if (this.files.size > seen.size) for (const file of this.files.keys()) if (!seen.has(file)) this.files.delete(file);

    const before = this.contributions;
    const plan = this.incremental && this.current.generation > 0 ? this.planDelta(listing) : undefined;
    if (plan) this.fillChanged(listing, plan);
    else this.fillAll(listing);
    for (const c of listing) diagnostics.push(...this.contributions.get(c.file)!.diagnostics);
    this.reportNew(diagnostics);
    const diagnosticsText = JSON.stringify(diagnostics);
    const touched = plan ? [...plan.changed.map((c) => c.file), ...plan.removed] : [...new Set([...before.keys(), ...this.contributions.keys()])];
    // Gateway API CRDs among the manifests say which bundle they are (GatewayClass SupportedVersion).
    const crds = this.crdBundleVersions(listing);
    const same = diagnosticsText === this.previousDiagnostics && touched.every((f) => sameContribution(before.get(f), this.contributions.get(f)))
      && JSON.stringify(crds) === JSON.stringify(this.current.crdBundleVersions);
    if (same && this.current.generation > 0) return false;
    this.previousDiagnostics = diagnosticsText;
    const rejected: RejectedObject[] = [];
    for (const c of listing) {
      const r = this.contributions.get(c.file)!.rejected;
      if (r.length > 0) rejected.push(...r);
    }
    const generation = this.current.generation + 1;
    const snapshot = plan ? this.patchSnapshot(before, plan, generation, diagnostics) : buildSnapshot(listing.flatMap((c) => this.contributions.get(c.file)!.objects), generation, diagnostics);
    const withRejected = rejected.length > 0 ? { ...snapshot, rejected } : snapshot;
    this.current = crds ? { ...withRejected, crdBundleVersions: crds } : withRejected;
    return true;
  }

  /**
   * The files whose contribution must be made again (their objects changed) and the files gone,
   * or undefined when only a full fill gives the right answer: when an object is defined in two
   * places (which one wins depends on every file's order).
   */
  private planDelta(listing: FileObjects[]): Delta | undefined {
    if (this.duplicates) return undefined;
    const changed: FileObjects[] = [];
    for (const c of listing) if (this.contributions.get(c.file)?.from !== c.objects) changed.push(c);
    const removed: string[] = [];
    if (this.contributions.size > listing.length - changed.length) {
      const listed = new Set(listing.map((c) => c.file));
      for (const file of this.contributions.keys()) if (!listed.has(file)) removed.push(file);
    }
    const freed = new Set<string>();
    for (const file of [...changed.map((c) => c.file), ...removed]) for (const k of this.contributions.get(file)?.keys ?? []) freed.add(k);
    const claimed = new Set<string>();
    for (const c of changed) {
      for (const p of c.objects) {
        const key = parsedKey(p.object);
        if (key === undefined) continue;
        if (claimed.has(key) || (this.owner.has(key) && !freed.has(key))) return undefined;
        claimed.add(key);
      }
    }
    return { changed, removed, freed };
  }

  /** Fills every file's objects, as on the first read. */
  private fillAll(listing: FileObjects[]): void {
    this.locations.clear();
    this.owner.clear();
    this.duplicates = false;
    this.admission.begin();
    const present = new Set<string>();
    const contributions = new Map<string, Contribution>();
    for (const c of listing) contributions.set(c.file, this.fill(c, present));
    // An object that disappeared and comes back later is a new object, as in a cluster.
    for (const key of this.memory.keys()) if (!present.has(key)) this.memory.delete(key);
    this.admission.end();
    this.contributions = contributions;
  }

  /** Fills the objects of the changed files only; the other files' contributions stay. */
  private fillChanged(listing: FileObjects[], plan: Delta): void {
    const contributions = new Map(this.contributions);
    for (const key of plan.freed) {
      this.locations.delete(key);
      this.owner.delete(key);
    }
    for (const file of plan.removed) contributions.delete(file);
    const present = new Set<string>();
    for (const c of plan.changed) contributions.set(c.file, this.fill(c, present));
    for (const key of plan.freed) {
      if (present.has(key)) continue;
      this.memory.delete(key);
      this.admission.forget(key);
    }
    this.contributions = contributions.size === listing.length ? contributions : new Map(listing.map((c) => [c.file, contributions.get(c.file)!]));
  }

  /** The previous snapshot's maps with the changed files' objects replaced (maps of untouched kinds are shared). */
  private patchSnapshot(before: ReadonlyMap<string, Contribution>, plan: Delta, generation: number, diagnostics: ProviderDiagnostic[]): Snapshot {
    const previous = this.current.objects;
    // By kind, the keys that change: their new object, or undefined when removed.
    const changes = new Map<SnapshotKind, Map<ObjectKey, KubeObject | undefined>>();
    const valueOf = (kind: SnapshotKind, k: ObjectKey): KubeObject | undefined => {
      const c = changes.get(kind);
      return c?.has(k) ? c.get(k) : previous.get(kind)?.get(k);
    };
    const put = (kind: SnapshotKind, k: ObjectKey, o: KubeObject | undefined): void => {
      let c = changes.get(kind);
      if (!c) changes.set(kind, (c = new Map()));
      c.set(k, o);
    };
    const files = [...plan.changed.map((c) => c.file), ...plan.removed];
    for (const file of files) {
      for (const o of before.get(file)?.objects ?? []) {
        const kind = o.kind as SnapshotKind;
        const k = objectKey(kind, o.metadata.namespace, o.metadata.name);
        if (valueOf(kind, k) === o) put(kind, k, undefined);
      }
    }
    for (const c of plan.changed) {
      for (const o of this.contributions.get(c.file)!.objects) {
        const kind = o.kind as SnapshotKind;
        const k = objectKey(kind, o.metadata.namespace, o.metadata.name);
        if (valueOf(kind, k) !== o) put(kind, k, o);
      }
    }
    const maps = new Map(previous);
    const keys = new Map<SnapshotKind, Set<ObjectKey>>();
    for (const [kind, c] of changes) {
      // Only keys whose object really differs (a removal undone by the same object is none).
      const differ = new Map([...c].filter(([k, o]) => previous.get(kind)?.get(k) !== o));
      if (differ.size === 0) continue;
      maps.set(kind, PatchedMap.of(previous.get(kind), differ));
      keys.set(kind, new Set(differ.keys()));
    }
    return { generation, objects: maps, diagnostics, changes: { since: this.current.generation, keys } };
  }


  /** A full read, for events that name something other than manifest files. */
  private readAllAgain(): Promise<boolean> {
    this.dirtyAll = true;
    return this.readAll();
  }

  /** Whether every path is a file (or a file gone) that is not a manifest, rather than a directory. */
  private async notManifests(paths: string[]): Promise<boolean> {
    const checks = await Promise.all(paths.map(async (f) => {
      if (MANIFEST_EXTENSIONS.test(f) || this.watchedDirectories.has(f) || this.paths.includes(f)) return false;
      try {
        return !(await stat(f)).isDirectory();
      } catch {
        return true; // gone, and not a directory we knew
      }
    }));
    return checks.every(Boolean);
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
    const rootLists: string[][] = [];
    for (const path of this.paths) {
      const list: string[] = [];
      rootLists.push(list);
      let info;
      try {
        info = await stat(path);
      } catch (err) {
        diagnostics.push({ where: path, message: fsMessage(err) });
        continue;
      }
      if (!info.isDirectory()) {
        out.add(path);
        list.push(path);
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
        list.push(...found);
      } catch (err) {
        diagnostics.push({ where: path, message: fsMessage(err) });
      }
    }
    this.watchedDirectories = watched;
    this.rootLists = rootLists;
    return [...out];
  }

  /**
   * Puts new files the watcher reported into the listing, without listing directories again.
   * False when that is not enough (a file is gone, or is not under a listed directory).
   */
  private async addListed(only: Set<string>): Promise<boolean> {
    if (!(await allFiles(only))) return false;
    let added = false;
    for (const f of only) {
      if (this.files.has(f)) continue;
      let found = false;
      for (let r = 0; r < this.paths.length; r++) {
        const root = this.paths[r]!;
        if (!this.directories.has(root) || !f.startsWith(`${root}/`) || f.slice(root.length).split('/').some((seg) => seg.startsWith('.'))) continue;
        found = true;
        const list = this.rootLists[r]!;
        const i = lowerBound(list, f);
        if (list[i] !== f) {
          list.splice(i, 0, f);
          added = true;
        }
      }
      if (!found) return false;
    }
    if (added) this.listed = [...new Set(this.rootLists.flat())];
    return true;
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
    const digest = createHash('sha1').update(text).digest('base64');
    if (previous && previous.digest === digest) return Object.assign(previous, identity);
    const state: FileState = { digest, ...identity, parsed: parseManifest(file, text), lastGood: previous?.lastGood };
    this.files.set(file, state);
    return state;
  }

  /**
   * One file's contribution: copies its parsed objects, fills in the metadata the API server
   * would have set and admits them (or refuses them) as the API server would. Keys defined are
   * added to `present`.
   */
  private fill(c: FileObjects, present: Set<string>): Contribution {
    const out: Contribution = { from: c.objects, keys: [], objects: [], rejected: [], diagnostics: [] };
    const claim = (key: string, where: string): void => {
      const earlier = this.locations.get(key);
      if (earlier) {
        out.diagnostics.push({ where, message: `${key} is also defined at ${earlier}; this later definition wins` });
        this.duplicates = true;
      }
      this.locations.set(key, where);
      this.owner.set(key, c.file);
      present.add(key);
      out.keys.push(key);
    };
    for (const p of c.objects) {
      const cached = this.filled.get(p);
      if (cached) {
        // Still the latest version under its key (or, when two places define the key, the same
        // content with the same metadata memory): nothing to fill again.
        const mem = this.memory.get(cached.key);
        const meta = cached.object.metadata;
        if (mem && (mem.object === cached.object || (mem.creationTimestamp === meta.creationTimestamp
          && (mem.generation === meta.generation || p.object.metadata.generation !== undefined)
          && contentHash(mem.object) === contentHash(cached.object)))) {
          mem.object = cached.object;
          claim(cached.key, p.where);
          this.admission.admit(cached.key, cached.object, p.where, out);
          continue;
        }
      }
      const kind = p.object.kind;
      if (!isSnapshotKind(kind)) {
        if (GATEWAY_GROUPS.test(p.object.apiVersion)) {
          out.diagnostics.push({ where: p.where, message: `kind ${kind} of ${p.object.apiVersion} is not one Portico reads; ignored` });
        }
        continue;
      }
      // Only the top level and metadata are ours to fill: the rest is shared with the parsed
      // object, which nothing mutates (a deep copy doubled the memory of every object).
      let obj: KubeObject = { ...p.object, metadata: { ...p.object.metadata } };
      if (!CLUSTER_SCOPED.has(kind) && !obj.metadata.namespace) obj.metadata.namespace = 'default';
      const key = CLUSTER_SCOPED.has(kind) ? `${kind}/${obj.metadata.name}` : `${kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
      claim(key, p.where);

      let mem = this.memory.get(key);
      let same = false;
      if (!mem) {
        mem = { generation: 1, creationTimestamp: rfc3339(c.mtimeMs), object: obj };
        this.memory.set(key, mem);
      } else if (contentHash(mem.object) !== contentHash(obj)) {
        mem.generation += 1;
      } else {
        same = true;
      }
      const meta = obj.metadata;
      if (meta.generation === undefined) meta.generation = mem.generation;
      if (meta.creationTimestamp === undefined) meta.creationTimestamp = mem.creationTimestamp;
      if (meta.uid === undefined) meta.uid = stableUid(key);
      // The API server labels every Namespace with its name; allowedRoutes selectors rely on it.
      if (kind === 'Namespace') meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': meta.name };
      // The same object as last time (its file changed elsewhere): keep the instance, so that
      // later stages see it unchanged without comparing it.
      if (same && JSON.stringify(mem.object) === JSON.stringify(obj)) obj = mem.object;
      mem.object = obj;
      this.filled.set(p, { object: obj, key });
      this.admission.admit(key, obj, p.where, out);
    }
    return out;
  }

  /**
   * crdBundleVersions() of every file's objects, in listing order: each file's own part is
   * computed once per parse (a read must not visit every object of every file).
   */
  private crdBundleVersions(listing: readonly FileObjects[]): Record<string, string> | undefined {
    let out: Record<string, string> | undefined;
    for (const c of listing) {
      let own = this.crdsOf.get(c.objects);
      if (own === undefined) {
        own = crdBundleVersions(c.objects.map((p) => p.object)) ?? null;
        this.crdsOf.set(c.objects, own);
      }
      // Later definitions win; a name keeps the place of its first one (as one pass would).
      if (own) out = Object.assign(out ?? {}, own);
    }
    return out;
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

/** Whether two contributions of a file put the same object instances in the snapshot (absent: none). */
function sameContribution(a: Contribution | undefined, b: Contribution | undefined): boolean {
  return sameInstances(a?.objects ?? [], b?.objects ?? [])
    && sameInstances((a?.rejected ?? []).map((r) => r.object), (b?.rejected ?? []).map((r) => r.object));
}

/** The key fill() gives a parsed object ("Kind/ns/name", "Kind/name"), or undefined for kinds not read. */
function parsedKey(o: KubeObject): string | undefined {
  const kind = o.kind;
  if (!isSnapshotKind(kind)) return undefined;
  return CLUSTER_SCOPED.has(kind) ? `${kind}/${o.metadata.name}` : `${kind}/${o.metadata.namespace || 'default'}/${o.metadata.name}`;
}

/** First index of a sorted list whose element is not below `x` (string order, as Array.sort). */
function lowerBound(list: readonly string[], x: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
