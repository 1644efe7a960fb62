// The `portico` command: run, status, validate, explain. bin/portico.js imports this file (with
// Node.js >= 24); `node src/cli/main.ts …` works too.
import { UsageError } from './common.ts';
import { EXPLAIN_USAGE, explainCommand } from './explain-command.ts';
import { RUN_USAGE, runCommand } from './run.ts';
import { STATUS_USAGE, statusCommand } from './status.ts';
import { VALIDATE_USAGE, validateCommand } from './validate.ts';

const USAGE = `Usage: portico COMMAND [options]

Portico implements the Kubernetes Gateway API: it reads GatewayClasses, Gateways, ListenerSets,
routes, ReferenceGrants and policies, serves the traffic and reports status.

Commands:
  run        serve traffic for the manifests given with -f, following their changes
  status     print the status Portico computes for the objects it owns
  validate   check manifests as the API server would; exit 1 if any object is rejected
  explain    show where a request would go, and why

Run "portico COMMAND --help" for the options of a command.
`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  run: { run: runCommand, usage: RUN_USAGE },
  status: { run: statusCommand, usage: STATUS_USAGE },
  validate: { run: validateCommand, usage: VALIDATE_USAGE },
  explain: { run: explainCommand, usage: EXPLAIN_USAGE },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`portico: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    // parseArgs reports unknown or malformed options with these codes.
    const code = (err as { code?: string }).code ?? '';
    if (err instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`portico ${name}: ${(err as Error).message}\n\n${command.usage}`);
      return 2;
    }
    process.stderr.write(`portico ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
