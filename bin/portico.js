#!/usr/bin/env node
// Entry point of the `portico` command. Portico runs its TypeScript sources directly on
// Node.js >= 24 (type stripping). The machines we target ship an older system Node, so when
// started by one, re-run ourselves with the Node 24 binary that `npm install` brought in.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'src', 'cli', 'main.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(main);
} else {
  const bundled = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(bundled)) {
    console.error(`portico needs Node.js >= 24 (this is ${process.version}); run "npm install" first`);
    process.exit(1);
  }
  const child = spawn(bundled, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Forward termination signals so that `kill` on this wrapper stops Portico cleanly.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}
