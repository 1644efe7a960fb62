// Helpers shared by the subcommands: the status List, output formats, time stamps.
import { stringify } from 'yaml';
import type { KubeObject } from '../api/meta.ts';
import type { OwnedStatus } from '../translate/index.ts';

export type OutputFormat = 'yaml' | 'json';

/** RFC 3339 with second precision, as Kubernetes writes times. */
export function nowRfc3339(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Each owned object as the API server would hold it: the manifest with Portico's status. */
export function statusItem(s: OwnedStatus): KubeObject {
  const { apiVersion, kind, metadata, spec, status: _old, ...rest } = s.object;
  const item: KubeObject = { apiVersion, kind, metadata };
  if (spec !== undefined) item.spec = spec;
  Object.assign(item, rest);
  item.status = s.status;
  return item;
}

/** The `kind: List` printed by `portico status` and served on /status. */
export function statusList(statuses: readonly OwnedStatus[]): { apiVersion: 'v1'; kind: 'List'; items: KubeObject[] } {
  return { apiVersion: 'v1', kind: 'List', items: statuses.map(statusItem) };
}

export function format(value: unknown, output: OutputFormat): string {
  if (output === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

export function parseOutput(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'yaml') return 'yaml';
  if (value === 'json') return 'json';
  throw new UsageError(`-o must be yaml or json, not "${value}"`);
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** The -f paths; at least one is required. */
export function requirePaths(paths: string[] | undefined): string[] {
  if (!paths || paths.length === 0) throw new UsageError('at least one -f PATH is required');
  return paths;
}
