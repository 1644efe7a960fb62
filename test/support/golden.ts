// Golden test support: loading a case (test/golden/<case>/in.yaml), running translate() on it,
// rendering the result as the out.yaml text, and checking the case's expect.yaml assertions.
// The format of each file is described in test/golden/README.md.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../src/api/meta.ts';
import { buildSnapshot, crdBundleVersions, type Snapshot } from '../../src/providers/snapshot.ts';
import { translate, type TranslateOptions, type TranslateResult } from '../../src/translate/index.ts';
import { gateProgrammed, markUnassigned } from '../../src/status/programmed.ts';

export const GOLDEN_DIR = fileURLToPath(new URL('../golden/', import.meta.url));
/** The fixed clock of every golden run, so lastTransitionTime is stable. */
export const GOLDEN_NOW = '2026-01-01T00:00:00Z';
const BASE_FILE = join(GOLDEN_DIR, '_base.yaml');
/** First line of an in.yaml that opts out of _base.yaml. */
const NO_BASE = '# base: none';

/** `node test/golden.test.ts --update` or GOLDEN_UPDATE=1 rewrites every out.yaml. */
export function updateRequested(): boolean {
  return process.argv.includes('--update') || process.env.GOLDEN_UPDATE === '1';
}

/** Case directories (sorted): every directory under test/golden holding an in.yaml. */
export function listCases(): string[] {
  return readdirSync(GOLDEN_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(GOLDEN_DIR, d.name, 'in.yaml')))
    .map((d) => d.name)
    .sort();
}

/** Parses a multi-document YAML file; throws with the file name on a syntax error. */
export function parseYamlDocs(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/**
 * The objects of a case: _base.yaml (unless opted out) followed by the case's in.yaml. `base`
 * replaces a fresh parse of _base.yaml with the given (shared, never mutated) instances.
 */
export function loadCaseObjects(name: string, base?: KubeObject[]): KubeObject[] {
  const inFile = join(GOLDEN_DIR, name, 'in.yaml');
  const own = parseYamlDocs(inFile) as KubeObject[];
  const useBase = !readFileSync(inFile, 'utf8').startsWith(NO_BASE);
  return useBase ? [...(base ?? loadBaseObjects()), ...own] : own;
}

export function loadBaseObjects(): KubeObject[] {
  return parseYamlDocs(BASE_FILE) as KubeObject[];
}

/**
 * Extra TranslateOptions of a case (optional options.yaml), e.g. `localAddresses: [127.0.0.1]`
 * to stand for the host's addresses. `now` is always GOLDEN_NOW. The `dataPlane` key is not a
 * TranslateOption (see loadDataPlane).
 */
export function loadCaseOptions(name: string): Partial<TranslateOptions> {
  const { dataPlane: _ignored, ...options } = readOptionsFile(name);
  return options as Partial<TranslateOptions>;
}

function readOptionsFile(name: string): Record<string, unknown> {
  const file = join(GOLDEN_DIR, name, 'options.yaml');
  if (!existsSync(file)) return {};
  const [doc] = parseYamlDocs(file);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: expected a mapping of TranslateOptions`);
  return doc as Record<string, unknown>;
}

/**
 * What the data plane made of the case's IR (options.yaml `dataPlane`), for the status layer
 * (src/status/programmed.ts) the run loop applies after translate():
 *   live: the generation the data plane has applied (the snapshot's is 1), or `none`
 *   bindErrors: {"address:port" or "udp/address:port": error message} of listeners it could not bind
 *   bindAddress: the --bind-address (default 0.0.0.0)
 *   changed: ["Gateway/ns/name", ...] whose configuration differs from the live one (while behind)
 *   unassigned: {"Gateway/ns/name": message} Gateways the Kubernetes address pool had no address for
 */
export interface DataPlaneResult {
  live: number | 'none';
  bindErrors?: Record<string, string>;
  bindAddress?: string;
  changed?: string[];
  unassigned?: Record<string, string>;
}

const DATA_PLANE_KEYS = new Set(['live', 'bindErrors', 'bindAddress', 'changed', 'unassigned']);

export function loadDataPlane(name: string): DataPlaneResult | undefined {
  const value = readOptionsFile(name).dataPlane;
  if (value === undefined) return undefined;
  const where = `${name}/options.yaml dataPlane`;
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: expected a mapping`);
  const dp = value as Record<string, unknown>;
  for (const k of Object.keys(dp)) if (!DATA_PLANE_KEYS.has(k)) throw new Error(`${where}: unknown key "${k}"`);
  if (dp.live !== 'none' && typeof dp.live !== 'number') throw new Error(`${where}: live must be a generation number or "none"`);
  return dp as unknown as DataPlaneResult;
}

/**
 * The statuses after the status layer, as the run loop (src/cli/controller.ts, then in
 * Kubernetes mode src/providers/kubernetes/mode.ts) computes them: translate's, gated on the
 * data plane's result, then the Gateways without a pool address marked.
 */
export function applyDataPlane(result: TranslateResult, dp: DataPlaneResult): TranslateResult {
  const live = dp.live === 'none' ? undefined : { generation: dp.live, bindErrors: dp.bindErrors ?? {} };
  const gated = gateProgrammed(result.statuses, result.ir, live, {
    now: GOLDEN_NOW,
    ...(dp.bindAddress !== undefined ? { bindAddress: dp.bindAddress } : {}),
    ...(dp.changed !== undefined ? { changed: new Set(dp.changed) } : {}),
  });
  const statuses = markUnassigned(gated, new Map(Object.entries(dp.unassigned ?? {})), GOLDEN_NOW);
  return { ...result, statuses };
}

/**
 * The snapshot of a case's objects, as the file provider makes it: CustomResourceDefinitions
 * among them give crdBundleVersions (src/providers/snapshot.ts), every other kind it reads goes in.
 */
export function caseSnapshot(objects: KubeObject[]): Snapshot {
  const snapshot = buildSnapshot(objects, 1);
  const crds = crdBundleVersions(objects);
  return crds ? { ...snapshot, crdBundleVersions: crds } : snapshot;
}

/** Builds the snapshot and options of a case, for translators other than translate(). */
export function caseInput(name: string, base?: KubeObject[]): { snapshot: Snapshot; options: TranslateOptions } {
  return { snapshot: caseSnapshot(loadCaseObjects(name, base)), options: { ...loadCaseOptions(name), now: GOLDEN_NOW } };
}

/**
 * Translates a case (then applies the status layer when options.yaml describes the data plane's
 * result); `reversed` feeds the objects in reverse order (output must not change).
 */
export function runCase(name: string, reversed = false): TranslateResult {
  let objects = loadCaseObjects(name);
  if (reversed) {
    // A later object replaces an earlier one with the same key: keep the winners, then reverse.
    const byKey = new Map(objects.map((o) => [`${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`, o]));
    objects = [...byKey.values()].reverse();
  }
  const result = translate(caseSnapshot(objects), { ...loadCaseOptions(name), now: GOLDEN_NOW });
  const dataPlane = loadDataPlane(name);
  return dataPlane ? applyDataPlane(result, dataPlane) : result;
}

/** What out.yaml holds: every owned object with its status, and the IR. */
export interface GoldenOutput {
  statuses: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; generation?: number };
    status: Record<string, unknown>;
  }[];
  ir: unknown;
}

export function goldenOutput(result: TranslateResult): GoldenOutput {
  return {
    statuses: result.statuses.map(({ object, status }) => ({
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: {
        name: object.metadata.name,
        ...(object.metadata.namespace !== undefined ? { namespace: object.metadata.namespace } : {}),
        ...(object.metadata.generation !== undefined ? { generation: object.metadata.generation } : {}),
      },
      status,
    })),
    ir: result.ir,
  };
}

/** PEM blobs would drown the IR in base64; a digest still shows which certificate went where. */
function abbreviatePem(value: unknown): unknown {
  if (typeof value === 'string' && value.startsWith('-----BEGIN')) {
    const label = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(value)?.[1] ?? 'PEM';
    const digest = createHash('sha256').update(value).digest('hex').slice(0, 12);
    return `<${label} sha256:${digest}>`;
  }
  if (Array.isArray(value)) return value.map(abbreviatePem);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, abbreviatePem(v)]));
  }
  return value;
}

/** The out.yaml text: keys sorted, PEM abbreviated, so the same result gives the same bytes. */
export function renderOutput(result: TranslateResult): string {
  return stringify(abbreviatePem(goldenOutput(result)), { sortMapEntries: true, lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------
// PENDING: cases whose expect.yaml translate() cannot satisfy yet.

/** Reads test/golden/PENDING: "<case> <why>" per line, '#' comments. */
export function loadPending(): Map<string, string> {
  const file = join(GOLDEN_DIR, 'PENDING');
  const pending = new Map<string, string>();
  if (!existsSync(file)) return pending;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [name, ...why] = line.split(/\s+/);
    pending.set(name, why.join(' ') || 'pending');
  }
  return pending;
}

// ---------------------------------------------------------------------------------------------
// expect.yaml: assertions about the statuses, independent of the regenerated out.yaml.

export interface Expectation {
  /** "Kind/namespace/name", "Kind/name" for GatewayClass, or "IR" for the IR (path from its root). */
  object: string;
  /** e.g. "status.listeners[https].conditions[ResolvedRefs]"; see selectIn() for keys. */
  path: string;
  /** For a condition: its status and (optionally) reason and observedGeneration. */
  status?: 'True' | 'False' | 'Unknown';
  reason?: string;
  observedGeneration?: number;
  /** The condition's message contains this text. */
  messageIncludes?: string;
  /** Deep equality with the value at path (for attachedRoutes, supportedKinds, ...). */
  equals?: unknown;
  /** Every item must deep-equal some element of the list at path (supportedKinds, as upstream compares them). */
  includes?: unknown[];
  /** Length of the list at path. */
  length?: number;
  /** With `equals`: an absent value is accepted too (omitempty counters such as attachedListenerSets: 0). */
  orAbsent?: boolean;
  /** The path must lead nowhere (no such listener, parent or condition). */
  absent?: boolean;
  /** Free text saying why, usually the upstream line it comes from. */
  note?: string;
}

export function loadExpectations(name: string): Expectation[] | undefined {
  const file = join(GOLDEN_DIR, name, 'expect.yaml');
  if (!existsSync(file)) return undefined;
  const [doc] = parseYamlDocs(file);
  if (!Array.isArray(doc)) throw new Error(`${file}: expected a list of assertions`);
  doc.forEach((e, i) => validateExpectation(e, `${file}[${i}]`));
  return doc as Expectation[];
}

const EXPECTATION_KEYS = new Set(['object', 'path', 'status', 'reason', 'observedGeneration', 'messageIncludes', 'equals', 'includes', 'orAbsent', 'length', 'absent', 'note']);

/** A typo in expect.yaml must fail loudly, not turn an assertion into a no-op. */
function validateExpectation(e: unknown, where: string): void {
  if (!e || typeof e !== 'object' || Array.isArray(e)) throw new Error(`${where}: expected a mapping`);
  const x = e as Record<string, unknown>;
  for (const k of Object.keys(x)) if (!EXPECTATION_KEYS.has(k)) throw new Error(`${where}: unknown key "${k}"`);
  if (typeof x.object !== 'string' || !(x.object === 'IR' || /^[A-Za-z]+\/([a-z0-9.-]+\/)?[a-z0-9.-]+$/.test(x.object))) {
    throw new Error(`${where}: object must be "Kind/namespace/name", "Kind/name" or "IR"`);
  }
  if (typeof x.path !== 'string') throw new Error(`${where}: path is required`);
  splitPath(x.path);
  const checks = ['status', 'reason', 'observedGeneration', 'messageIncludes', 'equals', 'includes', 'length', 'absent'].filter((k) => k in x);
  if (checks.length === 0) throw new Error(`${where}: no check (status, reason, equals, includes, length or absent)`);
  if (x.status !== undefined && !['True', 'False', 'Unknown'].includes(x.status as string)) {
    throw new Error(`${where}: status must be the string "True", "False" or "Unknown" (quote it in YAML)`);
  }
}

function statusKey(kind: string, namespace: string | undefined, name: string): string {
  return kind === 'GatewayClass' || namespace === undefined ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
}

/**
 * A parentRef / ancestorRef as a list key: "Kind/namespace/name", then "/sectionName" and
 * ":port" when set. The namespace defaults to the namespace of the object holding the ref.
 */
export function refKey(ref: Record<string, unknown>, defaultNamespace: string): string {
  const kind = typeof ref.kind === 'string' ? ref.kind : 'Gateway';
  const ns = typeof ref.namespace === 'string' ? ref.namespace : defaultNamespace;
  let key = `${kind}/${ns}/${String(ref.name)}`;
  if (typeof ref.sectionName === 'string') key += `/${ref.sectionName}`;
  if (typeof ref.port === 'number') key += `:${ref.port}`;
  return key;
}

/** Splits "a.b[x.y].c[k]" into segments, dots inside brackets kept. */
function splitPath(path: string): { field: string; keys: string[] }[] {
  const segments: { field: string; keys: string[] }[] = [];
  const re = /([A-Za-z0-9_]+)((?:\[[^\]]*\])*)(?:\.|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path)) !== null) {
    const keys = [...m[2].matchAll(/\[([^\]]*)\]/g)].map((k) => k[1]);
    segments.push({ field: m[1], keys });
  }
  if (re.lastIndex !== path.length) throw new Error(`cannot parse path "${path}"`);
  return segments;
}

/**
 * Selects the element of a list by key: "#3" is an index; otherwise the element whose type
 * (conditions), name (listeners), kind (supportedKinds) or parentRef/ancestorRef key equals it;
 * in the IR, a listener or backend by id, a virtual host by hostname, a gateway by
 * "namespace/name". A map is indexed by its key.
 */
function selectIn(list: unknown, key: string, ns: string): unknown {
  // A map (IR backends by id) is indexed by its key.
  if (list && typeof list === 'object' && !Array.isArray(list)) return (list as Record<string, unknown>)[key];
  if (!Array.isArray(list)) return undefined;
  if (key.startsWith('#')) return list[Number(key.slice(1))];
  return list.find((el: Record<string, unknown>) => {
    if (!el || typeof el !== 'object') return false;
    if (el.type === key || el.name === key || el.kind === key) return true;
    // IR nodes: listeners and backends by id, virtual hosts by hostname, gateways by source.
    if (el.id === key || el.hostname === key) return true;
    const src = el.source as Record<string, unknown> | undefined;
    if (src && !('sectionName' in src) && `${String(src.namespace)}/${String(src.name)}` === key) return true;
    for (const f of ['parentRef', 'ancestorRef']) {
      const ref = el[f];
      if (ref && typeof ref === 'object' && refKey(ref as Record<string, unknown>, ns) === key) return true;
    }
    return false;
  });
}

export function evalPath(root: unknown, path: string, ns: string): unknown {
  let cur: unknown = root;
  for (const { field, keys } of splitPath(path)) {
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[field] : undefined;
    for (const key of keys) cur = selectIn(cur, key, ns);
  }
  return cur;
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** goldenOutput() as JSON with sorted keys: the same bytes-equality as out.yaml, cheaper to make. */
export function canonicalOutput(result: TranslateResult): string {
  return JSON.stringify(canonical(goldenOutput(result)));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, canonical(x)]));
  }
  return v;
}

/** Checks every assertion; returns one line per failure (empty when all hold). */
export function checkExpectations(result: TranslateResult, expectations: Expectation[]): string[] {
  const byKey = new Map(result.statuses.map((s) => [
    statusKey(s.object.kind, s.object.metadata.namespace, s.object.metadata.name), s,
  ]));
  const failures: string[] = [];
  for (const e of expectations) {
    const where = `${e.object} ${e.path}`;
    if (e.object === 'IR') {
      failures.push(...checkValue(e, where, evalPath(result.ir, e.path, 'default')));
      continue;
    }
    const owned = byKey.get(e.object);
    if (!owned) {
      if (!e.absent) failures.push(`${where}: no status for ${e.object}`);
      continue;
    }
    const root = { status: owned.status };
    failures.push(...checkValue(e, where, evalPath(root, e.path, owned.object.metadata.namespace ?? 'default')));
  }
  return [...failures, ...checkObservedGenerations(result), ...checkPartiallyInvalidMessages(result)];
}

/** The checks of one expectation against the value its path leads to. */
function checkValue(e: Expectation, where: string, value: unknown): string[] {
  const got = JSON.stringify(value);
  if (e.absent) return value === undefined ? [] : [`${where}: expected absent, got ${got}`];
  if (value === undefined) return e.orAbsent ? [] : [`${where}: missing`];
  const failures: string[] = [];
  const c = value as Record<string, unknown>;
  if (e.status !== undefined || e.reason !== undefined || e.observedGeneration !== undefined) {
    const bad = (e.status !== undefined && c.status !== e.status)
      || (e.reason !== undefined && c.reason !== e.reason)
      || (e.observedGeneration !== undefined && c.observedGeneration !== e.observedGeneration);
    if (bad) {
      const want = [e.status, e.reason, e.observedGeneration].filter((x) => x !== undefined).join('/');
      failures.push(`${where}: expected ${want}, got ${c.status}/${c.reason}/${c.observedGeneration} (${JSON.stringify(c.message)})`);
    }
  }
  if (e.messageIncludes !== undefined && !String(c.message).includes(e.messageIncludes)) {
    failures.push(`${where}: expected message to include ${JSON.stringify(e.messageIncludes)}, got ${JSON.stringify(c.message)}`);
  }
  if (e.equals !== undefined && !isDeepEqual(value, e.equals)) failures.push(`${where}: expected ${JSON.stringify(e.equals)}, got ${got}`);
  for (const item of e.includes ?? []) {
    if (!Array.isArray(value) || !value.some((v) => isDeepEqual(v, item))) {
      failures.push(`${where}: expected to include ${JSON.stringify(item)}, got ${got}`);
    }
  }
  if (e.length !== undefined && (!Array.isArray(value) || value.length !== e.length)) {
    failures.push(`${where}: expected length ${e.length}, got ${got}`);
  }
  return failures;
}

/**
 * The invariant every conformance test relies on: each condition Portico writes carries
 * observedGeneration = metadata.generation of its object (checked where the input sets a generation).
 */
export function checkObservedGenerations(result: TranslateResult): string[] {
  const failures: string[] = [];
  for (const { key, object, status } of result.statuses) {
    const generation = object.metadata.generation;
    if (generation === undefined) continue;
    const lists: [string, unknown][] = [['status.conditions', status.conditions]];
    for (const group of ['listeners', 'parents', 'ancestors']) {
      const entries = status[group];
      if (!Array.isArray(entries)) continue;
      entries.forEach((entry: Record<string, unknown>, i) => lists.push([`status.${group}[#${i}].conditions`, entry?.conditions]));
    }
    for (const [where, conditions] of lists) {
      if (!Array.isArray(conditions)) continue;
      for (const c of conditions as Record<string, unknown>[]) {
        if (c.observedGeneration !== generation) {
          failures.push(`${key} ${where}[${String(c.type)}]: observedGeneration ${String(c.observedGeneration)}, metadata.generation ${generation}`);
        }
      }
    }
  }
  return failures;
}

/** PartiallyInvalid messages must say which way the rules went (shared_types.go). */
export function checkPartiallyInvalidMessages(result: TranslateResult): string[] {
  const failures: string[] = [];
  for (const { key, status } of result.statuses) {
    const parents = Array.isArray(status.parents) ? status.parents as Record<string, unknown>[] : [];
    for (const p of parents) {
      for (const c of (Array.isArray(p?.conditions) ? p.conditions : []) as Record<string, unknown>[]) {
        const message = String(c.message);
        if (c.type === 'PartiallyInvalid' && !message.startsWith('Dropped Rule') && !message.startsWith('Fall Back')) {
          failures.push(`${key}: PartiallyInvalid message must start with "Dropped Rule" or "Fall Back": ${JSON.stringify(message)}`);
        }
      }
    }
  }
  return failures;
}

