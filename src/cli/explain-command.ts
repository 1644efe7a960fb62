// `portico explain -f PATH… --host H --path P [--method M] [--header k=v]… [--port N]`: which
// gateway, listener, route rule and backends a request would reach, or why it reaches none.
import { parseArgs } from 'node:util';
import { loadSnapshot } from '../providers/files/index.ts';
import { translate } from '../translate/index.ts';
import { nowRfc3339, requirePaths, UsageError } from './common.ts';
import { explainRequest, formatExplanation } from './explain.ts';
import type { ExplainRequest } from './explain.ts';

export const EXPLAIN_USAGE = `Usage: portico explain -f PATH… --host HOST --path PATH [options]

Explains, for every Gateway with an HTTP or HTTPS listener, which listener, route rule and
backends (with their share of traffic and endpoints) the request would reach, or why it would
get a 404. The request is matched the way the data plane matches it.

Options:
  -f, --filename PATH   manifest file or directory (repeatable)
      --host HOST       Host header (required)
      --path PATH       request path, optionally with ?query (default /)
      --method METHOD   request method (default GET)
      --header K=V      request header (repeatable)
      --port N          only listeners on this port (then TLS, TCP and UDP listeners too;
                        for TLS the host is the SNI)
  -o, --output FORMAT   text (default) or json
  -h, --help            this help
`;

export async function explainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      host: { type: 'string' },
      path: { type: 'string', default: '/' },
      method: { type: 'string' },
      header: { type: 'string', multiple: true },
      port: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(EXPLAIN_USAGE);
    return 0;
  }
  const paths = requirePaths(values.filename);
  if (!values.host) throw new UsageError('--host is required');
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf('=');
    if (i <= 0) throw new UsageError(`--header must be NAME=VALUE, not "${h}"`);
    headers[h.slice(0, i)] = h.slice(i + 1);
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be a port number, not "${values.port}"`);
  }
  if (values.output !== 'text' && values.output !== 'json') throw new UsageError(`-o must be text or json, not "${values.output}"`);
  const req: ExplainRequest = { host: values.host, path: values.path, method: values.method, headers, port };

  const { snapshot } = await loadSnapshot(paths);
  for (const d of snapshot.diagnostics) process.stderr.write(`portico: ${d.where}: ${d.message}\n`);
  const { ir } = translate(snapshot, { now: nowRfc3339() });
  const outcomes = explainRequest(ir, req);
  process.stdout.write(values.output === 'json' ? `${JSON.stringify(outcomes, null, 2)}\n` : formatExplanation(req, outcomes));
  return outcomes.some((o) => o.result === 'routed') ? 0 : 1;
}
