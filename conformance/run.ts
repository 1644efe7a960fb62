// `npm run conformance`: runs the upstream Gateway API conformance suite (v1.6.3) against Portico.
//
// 1. brings the local cluster up (conformance/cluster.ts, with the node agent running the echo backends),
// 2. creates Portico's GatewayClass and starts Portico in Kubernetes mode on the host,
// 3. runs our suite module (conformance/suite, go test) with the Gateway profiles; the supported
//    features are inferred by the suite from the GatewayClass status, i.e. from what Portico claims,
// 4. writes the report to conformance/reports/, prints a summary table and checks that every test
//    listed in conformance/expected-pass.txt passed.
//
// Options: --profiles=GATEWAY-HTTP,...  --run-test=ShortName  --skip-tests=A,B  --keep-cluster
//          --timeout-config-overrides=...  and anything after `--` goes to the suite unchanged.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { buildSuite, conformanceDir, goAvailable, suiteDir, VERSIONS, withLock } from './lib/build.ts';
import { KubeClient, waitFor } from './lib/kube.ts';
import { acquire, canRunAgent } from './cluster.ts';
import { PORTICO_SUPPORTED_FEATURES } from '../src/api/features.ts';

export const GATEWAY_CLASS = 'portico';
export const CONTROLLER_NAME = 'portico.dev/gateway-controller';
const DEFAULT_PROFILES = 'GATEWAY-HTTP,GATEWAY-GRPC,GATEWAY-TLS,GATEWAY-TCP,GATEWAY-UDP';
/** Gateways without spec.addresses get a loopback address from here; the suite dials it directly. */
const ADDRESS_POOL = '127.1.0.0/24';
/**
 * For GatewayStaticAddresses: an address Portico can bind (any 127/8 address is local on Linux,
 * and this one is outside the pool) and one it cannot (TEST-NET-2, never assigned to this host).
 */
const USABLE_ADDRESS = '127.1.1.1';
const UNUSABLE_ADDRESS = '198.51.100.1';

const repoRoot = join(conformanceDir, '..');
const reportsDir = join(conformanceDir, 'reports');
const logDir = join(conformanceDir, '.work');

function say(msg: string): void {
  process.stderr.write(`[conformance] ${msg}\n`);
}

function banner(msg: string): void {
  const line = '='.repeat(Math.min(100, msg.length + 4));
  process.stderr.write(`\n${line}\n  ${msg}\n${line}\n\n`);
}

/** A run that cannot happen passes a developer's machine, but never CI: CI must produce the report. */
function skippedExitCode(): number {
  return process.env.CI ? 1 : 0;
}

interface Stats {
  Passed?: number;
  Failed?: number;
  Skipped?: number;
}

interface ProfileReport {
  name: string;
  core: { result: string; statistics: Stats; failedTests?: string[]; skippedTests?: string[] };
  extended?: { result: string; statistics: Stats; supportedFeatures?: string[]; unsupportedFeatures?: string[]; failedTests?: string[] };
}

/** The summary table: one row per profile. */
export function summaryTable(profiles: ProfileReport[]): string {
  const rows = [['profile', 'core passed/total', 'extended claimed/total', 'passed', 'failed', 'skipped']];
  for (const p of profiles) {
    const c = p.core.statistics;
    const e = p.extended?.statistics ?? {};
    const coreTotal = (c.Passed ?? 0) + (c.Failed ?? 0) + (c.Skipped ?? 0);
    const claimed = p.extended?.supportedFeatures?.length ?? 0;
    const features = claimed + (p.extended?.unsupportedFeatures?.length ?? 0);
    rows.push([
      p.name,
      `${c.Passed ?? 0}/${coreTotal}`,
      `${claimed}/${features}`,
      String((c.Passed ?? 0) + (e.Passed ?? 0)),
      String((c.Failed ?? 0) + (e.Failed ?? 0)),
      String((c.Skipped ?? 0) + (e.Skipped ?? 0)),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ')).join('\n');
}

/** Per-test outcomes from `go test -v` output: ShortName → PASS | FAIL | SKIP. */
export function testOutcomes(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of output.matchAll(/^\s*--- (PASS|FAIL|SKIP): TestConformance\/([^/\s]+) /gm)) out.set(m[2], m[1]);
  return out;
}

/**
 * The `go test -v` lines that belong to one top-level test, so a failure in CI shows its reason
 * without the suite log. Parallel tests interleave; `=== RUN|CONT|NAME|PAUSE` headers say whose
 * lines follow, and `--- PASS|FAIL|SKIP` verdict lines name their test themselves.
 */
export function testLines(output: string, name: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const line of output.split('\n')) {
    const header = /^=== (?:RUN|CONT|NAME|PAUSE)\s+TestConformance\/([^/\s]+)/.exec(line);
    if (header) current = header[1];
    const verdict = /^\s*--- (?:PASS|FAIL|SKIP): TestConformance\/([^/\s]+)/.exec(line);
    if ((verdict ? verdict[1] : current) === name) lines.push(line);
  }
  return lines;
}

/** Tests listed in expected-pass.txt (one ShortName a line, # comments) that did not pass. */
/** The test names of an expected-pass.txt text: one a line, `#` starts a comment. */
export function expectedNames(expectedText: string): string[] {
  return expectedText
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

export function missingExpected(expectedText: string, outcomes: Map<string, string>): string[] {
  return expectedNames(expectedText)
    .filter((name) => outcomes.get(name) !== 'PASS')
    .map((name) => `${name}: ${outcomes.get(name) ?? 'did not run'}`);
}

function startPortico(kubeconfig: string, logFile: string): ChildProcess {
  const out = createWriteStream(logFile, { flags: 'w' });
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'src', 'cli', 'main.ts'), 'run', '--kubernetes', '--kubeconfig', kubeconfig, '--address-pool', ADDRESS_POOL, '--admin-address', '127.0.0.1:0'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}

interface RunOptions {
  profiles?: string;
  'run-test'?: string;
  'skip-tests'?: string;
  'timeout-config-overrides'?: string;
  'keep-cluster'?: boolean;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      profiles: { type: 'string', default: DEFAULT_PROFILES },
      'run-test': { type: 'string' },
      'skip-tests': { type: 'string' },
      'timeout-config-overrides': { type: 'string' },
      'keep-cluster': { type: 'boolean' },
    },
    allowPositionals: true,
  });
  if (!(await goAvailable())) {
    banner('SKIPPED: the conformance run needs Go (go build of the cluster binaries and of the suite); `go` is not on PATH');
    return skippedExitCode();
  }
  if (!canRunAgent()) {
    banner('SKIPPED: the conformance run needs root and `ip` (the node agent puts each backend pod in its own network namespace)');
    return skippedExitCode();
  }
  mkdirSync(logDir, { recursive: true });
  mkdirSync(reportsDir, { recursive: true });

  say('building the conformance suite and bringing the cluster up (the first run builds Kubernetes: long)');
  const suiteBin = await buildSuite();
  // Two runs on one cluster would share namespaces and the GatewayClass, with two Portico
  // processes writing status: a second run waits for the first.
  return withLock('conformance-run', () => runAgainstCluster(suiteBin, values, positionals));
}

async function runAgainstCluster(suiteBin: string, values: RunOptions, positionals: string[]): Promise<number> {
  // acquire() registers this run as a user of the cluster, so a test process that shares it never
  // stops it mid-run; releasing stops it only if no one else uses it and no person started it.
  const cluster = await acquire({ agent: true });
  const client = KubeClient.fromKubeconfig(cluster.kubeconfig);
  let portico: ChildProcess | undefined;
  try {
    await client.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: GATEWAY_CLASS },
      spec: { controllerName: CONTROLLER_NAME, description: 'Portico, run by conformance/run.ts' },
    });

    const porticoLog = join(logDir, 'portico.log');
    portico = startPortico(cluster.kubeconfig, porticoLog);
    let exited: number | null | undefined;
    portico.on('exit', (code) => (exited = code));
    try {
      // The GatewayClass may still hold a previous run's status (a cluster kept between runs), with
      // a previous build's features: the suite reads them once at its start, so wait for this
      // build's claim.
      const wanted = [...PORTICO_SUPPORTED_FEATURES].sort().join(',');
      await waitFor('GatewayClass portico to be Accepted by Portico, with its features', 90_000, async () => {
        if (exited !== undefined) throw new Error('exited');
        const gc = await client.get(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${GATEWAY_CLASS}`);
        const features = (gc.status?.supportedFeatures ?? []).map((f: any) => f.name ?? f).sort().join(',');
        return features === wanted && gc.status?.conditions?.some((c: any) => c.type === 'Accepted' && c.status === 'True' && c.observedGeneration === gc.metadata.generation);
      }, 500);
    } catch (e) {
      const text = existsSync(porticoLog) ? readFileSync(porticoLog, 'utf8') : '';
      say(`Portico did not accept GatewayClass ${GATEWAY_CLASS}: ${String(e)}; last lines of ${porticoLog}:`);
      process.stderr.write(text.split('\n').slice(-30).join('\n') + '\n');
      return 1;
    }
    const gc = await client.get(`/apis/gateway.networking.k8s.io/v1/gatewayclasses/${GATEWAY_CLASS}`);
    const claimed = (gc.status?.supportedFeatures ?? []).map((f: any) => f.name ?? f);
    say(`GatewayClass ${GATEWAY_CLASS} accepted; Portico claims ${claimed.length} features: ${claimed.join(', ')}`);

    // A previous run's namespaces may still be terminating (the suite deletes them at its end);
    // the suite cannot create its base manifests in a terminating namespace, so wait them out.
    await waitFor('namespaces of a previous run to finish terminating', 180_000, async () => {
      const list = await client.get('/api/v1/namespaces');
      return !(list.items ?? []).some((ns: any) => String(ns.metadata?.name).startsWith('gateway-conformance') && ns.status?.phase === 'Terminating');
    }, 1000);

    const reportFile = join(reportsDir, `experimental-v${VERSIONS.gatewayAPI}-default-report.yaml`);
    const suiteArgs = [
      '-test.run', '^TestConformance$', '-test.v', '-test.timeout', '0',
      `--gateway-class=${GATEWAY_CLASS}`,
      `--conformance-profiles=${values.profiles}`,
      `--report-output=${reportFile}`,
      `--usable-address=${USABLE_ADDRESS}`,
      `--unusable-address=${UNUSABLE_ADDRESS}`,
      ...(values['run-test'] ? [`--run-test=${values['run-test']}`] : []),
      ...(values['skip-tests'] ? [`--skip-tests=${values['skip-tests']}`] : []),
      ...(values['timeout-config-overrides'] ? [`--timeout-config-overrides=${values['timeout-config-overrides']}`] : []),
      ...positionals,
    ];
    rmSync(reportFile, { force: true }); // never summarise a previous run's report
    const suiteLog = join(logDir, 'suite.log');
    say(`running the suite (log: ${suiteLog}, Portico log: ${porticoLog})`);
    const started = Date.now();
    const { code, output } = await runSuite(suiteBin, suiteArgs, cluster.kubeconfig, suiteLog);
    say(`suite finished in ${Math.round((Date.now() - started) / 1000)}s with exit code ${code}`);

    let ok = true;
    if (existsSync(reportFile)) {
      const report = YAML.parse(readFileSync(reportFile, 'utf8'));
      process.stdout.write(`\n${summaryTable(report.profiles ?? [])}\n\nreport: ${reportFile}\n`);
    } else {
      say('the suite wrote no report (it failed before running tests; see the log)');
      ok = false;
    }
    const outcomes = testOutcomes(output);
    const expectedFile = join(conformanceDir, 'expected-pass.txt');
    if (existsSync(expectedFile)) {
      const selection = Boolean(values['run-test'] || values['skip-tests'] || positionals.length);
      if (selection) say('a test selection was given; expected-pass.txt is only checked for tests that ran');
      // A selection skips the other tests (the suite reports them SKIP): only the selected ones count.
      const failed = (missing: string[]) => (selection ? missing.filter((m) => !m.endsWith('did not run') && !m.endsWith(': SKIP')) : missing);
      const relevant = failed(missingExpected(readFileSync(expectedFile, 'utf8'), outcomes));
      for (const entry of relevant) {
        const name = entry.slice(0, entry.indexOf(':'));
        const lines = testLines(output, name);
        if (lines.length) say(`the suite's lines for ${name} (last 60):\n${lines.slice(-60).join('\n')}`);
      }
      // A listed test that failed fails the run, however it does alone. It runs once more, alone,
      // only to tell a flaky test (FLAKY, with the full run's lines above) from a broken one.
      for (const entry of relevant) {
        if (!entry.endsWith(': FAIL')) continue;
        const name = entry.slice(0, entry.indexOf(':'));
        say(`running ${name} once more, alone, to tell flaky from broken (the run fails either way)`);
        const retryArgs = [...suiteArgs.filter((a) => !/^--(run-test|skip-tests|report-output)=/.test(a)), `--run-test=${name}`, `--report-output=${join(logDir, 'retry-report.yaml')}`];
        const retry = await runSuite(suiteBin, retryArgs, cluster.kubeconfig, join(logDir, `retry-${name}.log`));
        if (testOutcomes(retry.output).get(name) === 'PASS') say(`FLAKY: ${name} failed in the full run and passed alone (its lines from the full run are above)`);
        else {
          const lines = testLines(retry.output, name);
          if (lines.length) say(`the suite's lines for ${name}, second run (last 60):\n${lines.slice(-60).join('\n')}`);
        }
      }
      // The list last: CI keeps the end of the output.
      if (relevant.length) {
        say(`tests listed in conformance/expected-pass.txt that did not pass:\n  ${relevant.join('\n  ')}`);
        ok = false;
      } else say('every test in conformance/expected-pass.txt passed');
    }
    return ok ? 0 : 1;
  } finally {
    if (portico && portico.exitCode === null) {
      portico.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (portico.exitCode === null) portico.kill('SIGKILL');
    }
    client.close();
    if (values['keep-cluster']) say(`cluster left running (KUBECONFIG=${cluster.kubeconfig}); stop it with: npm run cluster -- down`);
    else await cluster.release();
  }
}

function runSuite(bin: string, args: string[], kubeconfig: string, logFile: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logFile, { flags: 'w' });
    let output = '';
    const child = spawn(bin, args, { cwd: suiteDir, env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      output += s;
      out.write(s);
      // Only the per-test verdicts go to the terminal; everything is in the log.
      for (const line of s.split('\n')) if (/^\s*--- (PASS|FAIL|SKIP)|^(PASS|FAIL|ok)\b/.test(line)) process.stdout.write(line + '\n');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      out.end();
      resolve({ code: code ?? 1, output });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      say(`error: ${e instanceof Error ? e.stack : String(e)}`);
      process.exit(1);
    },
  );
}
