// `portico status -f PATH… [-o yaml|json]`: the status Portico computes for every object it owns,
// printed as a `kind: List` of the objects as the API server would hold them. This is what
// translate() says; Programmed here means "would be programmed" (a running `portico run` serves
// the live, gated view on its admin API at /status).
import { parseArgs } from 'node:util';
import { loadSnapshot } from '../providers/files/index.ts';
import { addRejectedStatuses } from '../status/rejected.ts';
import { translate } from '../translate/index.ts';
import { format, nowRfc3339, parseOutput, requirePaths, statusList } from './common.ts';

export const STATUS_USAGE = `Usage: portico status -f PATH… [-o yaml|json]

Reads the manifests and prints, as a "kind: List" (apiVersion v1), every object Portico owns
status for (GatewayClasses with Portico's controllerName, their Gateways and ListenerSets, the
routes and policies attached to them), each with the status Portico computes for it. An object
the API server would refuse (see "portico validate") is not served; its status says why
(Accepted=False, with every field path and problem).

Options:
  -f, --filename PATH   manifest file or directory (repeatable)
  -o, --output FORMAT   yaml (default) or json
  -h, --help            this help
`;

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(STATUS_USAGE);
    return 0;
  }
  const output = parseOutput(values.output);
  const { snapshot } = await loadSnapshot(requirePaths(values.filename));
  for (const d of snapshot.diagnostics) process.stderr.write(`portico: ${d.where}: ${d.message}\n`);
  const now = nowRfc3339();
  const result = translate(snapshot, { now });
  // Objects the API server would have refused are not translated; their status says why.
  const statuses = addRejectedStatuses(result.statuses, snapshot, { now, ir: result.ir });
  process.stdout.write(format(statusList(statuses), output));
  return 0;
}
