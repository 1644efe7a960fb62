// `portico validate -f PATH…`: checks every object read against the Gateway API schema and
// rules (as the API server would on create) and lists what it would reject. Exit code 1 when
// anything is rejected or a file could not be read, else 0.
import { parseArgs } from 'node:util';
import type { KubeObject } from '../api/meta.ts';
import { validateObject } from '../api/validation/index.ts';
import { loadSnapshot } from '../providers/files/index.ts';
import { requirePaths } from './common.ts';

export const VALIDATE_USAGE = `Usage: portico validate -f PATH… 

Checks every object in the manifests (files or directories, YAML or JSON) as the API server
would on create: schema and validation rules of the Gateway API CRDs. Prints each rejected
object as "Kind namespace/name: field.path: message" and exits with 1 if any was rejected (or a
file could not be parsed), else 0.

Options:
  -f, --filename PATH   manifest file or directory (repeatable)
  -h, --help            this help
`;

export async function validateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { filename: { type: 'string', short: 'f', multiple: true }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  const { snapshot } = await loadSnapshot(requirePaths(values.filename));
  // The provider already refused what the API server would (snapshot.rejected, with one
  // diagnostic per error); those are listed below as "Kind ns/name: path: message".
  const refused = new Map((snapshot.rejected ?? []).map((r) => [r.object, r.errors]));
  const rejectionLines = new Set((snapshot.rejected ?? []).flatMap((r) => r.errors.map((e) => `${r.object.kind} ${displayName(r.object)} rejected: ${e.path ? `${e.path}: ` : ''}${e.message}`)));
  const fileProblems = snapshot.diagnostics.filter((d) => !rejectionLines.has(d.message));
  const lines: string[] = [];
  for (const d of fileProblems) lines.push(`${d.where}: ${d.message}`);
  let checked = 0;
  let rejected = 0;
  const objects = [...snapshot.objects.values()].flatMap((byKey) => [...byKey.values()]);
  objects.push(...refused.keys());
  objects.sort((a, b) => `${a.kind}/${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.namespace ?? ''}/${b.metadata.name}`));
  for (const obj of objects) {
    checked++;
    let errors: { path: string; message: string }[];
    try {
      errors = refused.get(obj) ?? validateObject(obj);
    } catch (err) {
      errors = [{ path: '', message: `validator failed: ${err instanceof Error ? err.message : String(err)}` }];
    }
    if (errors.length === 0) continue;
    rejected++;
    for (const e of errors) lines.push(`${obj.kind} ${displayName(obj)}: ${e.path ? `${e.path}: ` : ''}${e.message}`);
  }
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  const problems = fileProblems.length;
  process.stderr.write(`${checked} object${checked === 1 ? '' : 's'} checked, ${rejected} rejected${problems ? `, ${problems} file problem${problems === 1 ? '' : 's'}` : ''}\n`);
  return rejected > 0 || problems > 0 ? 1 : 0;
}

function displayName(obj: KubeObject): string {
  return obj.metadata.namespace && obj.kind !== 'GatewayClass' && obj.kind !== 'Namespace' ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}
