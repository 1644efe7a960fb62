// Builds the pinned cluster binaries with `go build` from the Go module proxy and caches them outside
// the repository (~/.cache/portico/bin/<name>-<version>, or $PORTICO_CACHE/bin). Nothing built or
// downloaded here is ever written into the working tree.
//
// k8s.io/kubernetes cannot be built with `go install pkg@version`: its go.mod requires every staging
// module at v0.0.0 and maps them with relative replace directives, which only apply in the main
// module. So we generate a wrapper module that requires k8s.io/kubernetes vX.Y.Z and replaces each
// staging module (read from the downloaded go.mod, never hard-coded) with its matching v0.Y.Z tag.
// etcd gets its own wrapper module so that minimal version selection cannot mix its dependencies
// with Kubernetes'. echo-basic and the conformance suite come from conformance/suite (our go.mod).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VERSIONS = {
  kubernetes: '1.36.3',
  // The etcd client version k8s.io/kubernetes v1.36.3 requires; the server is built at the same version.
  etcd: '3.6.8',
  gatewayAPI: '1.6.3',
} as const;

export const K8S_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

export const conformanceDir = dirname(dirname(fileURLToPath(import.meta.url)));
export const suiteDir = join(conformanceDir, 'suite');

export function cacheRoot(): string {
  return process.env.PORTICO_CACHE || join(homedir(), '.cache', 'portico');
}

export function binPath(name: string): string {
  const version =
    name === 'etcd' ? VERSIONS.etcd : name === 'echo-basic' || name === 'conformance.test' ? VERSIONS.gatewayAPI : VERSIONS.kubernetes;
  return join(cacheRoot(), 'bin', `${name}-v${version}`);
}

function log(msg: string): void {
  process.stderr.write(`[cluster] ${msg}\n`);
}

/** Runs a command, appending its output to `logFile`; rejects with the log's tail on failure. */
export function run(cmd: string, args: string[], opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(opts.logFile, 'a');
    writeSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => {
      closeSync(fd);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      closeSync(fd);
      if (code === 0) return resolve();
      const tail = readFileSync(opts.logFile, 'utf8').split('\n').slice(-30).join('\n');
      reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? code}); see ${opts.logFile}:\n${tail}`));
    });
  });
}

/** Captures stdout of a short command. */
export function capture(cmd: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.slice(-2000)}`))));
  });
}

/** Whether a process with this pid exists (signal 0 only checks). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Serialises builds of the same thing across processes (a CLI `up` and a test may race): an
 * exclusive lock file holding the owner's pid; a stale lock (dead owner) is taken over.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(cacheRoot(), 'build', `${name}.lock`);
  mkdirSync(dirname(lock), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch {
      const owner = Number(readFileSync(lock, 'utf8') || '0');
      if (!owner || !pidAlive(owner)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (!announced) log(`waiting for another build of ${name} (pid ${owner})`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

// -mod=mod: the wrapper modules are generated, so go may update their go.mod/go.sum. Keeps the
// caller's other GOFLAGS (e.g. -buildvcs=false).
const goEnv: NodeJS.ProcessEnv = { GOFLAGS: `${(process.env.GOFLAGS ?? '').replace(/-mod=\S+/g, '')} -mod=mod`.trim(), CGO_ENABLED: '0', GOTOOLCHAIN: 'local' };

async function timed(name: string, fn: () => Promise<void>): Promise<void> {
  const start = Date.now();
  log(`building ${name} (first time only; log in ${join(cacheRoot(), 'build', `${name}.log`)})`);
  await fn();
  const secs = Math.round((Date.now() - start) / 1000);
  writeFileSync(join(cacheRoot(), 'build', `${name}.seconds`), `${secs}\n`);
  log(`built ${name} in ${secs}s`);
}

/** `go mod download -json mod@version` → the module's directory in the module cache. */
export async function moduleDir(mod: string, version: string): Promise<{ Dir: string; GoMod: string }> {
  const out = await capture('go', ['mod', 'download', '-json', `${mod}@${version}`], cacheRoot(), goEnv);
  return JSON.parse(out);
}

export async function ensureKubernetes(): Promise<void> {
  if (K8S_BINARIES.every((b) => existsSync(binPath(b)))) return;
  await withLock('kubernetes', async () => {
    if (K8S_BINARIES.every((b) => existsSync(binPath(b)))) return;
    const v = VERSIONS.kubernetes;
    const dir = join(cacheRoot(), 'build', `k8s-v${v}`);
    const logFile = join(cacheRoot(), 'build', 'kubernetes.log');
    mkdirSync(join(dir, 'out'), { recursive: true });
    await timed('kubernetes', async () => {
      const { GoMod } = await moduleDir('k8s.io/kubernetes', `v${v}`);
      const staging = [...readFileSync(GoMod, 'utf8').matchAll(/=>\s*\.\/staging\/src\/(k8s\.io\/[\w.-]+)/g)].map((m) => m[1]);
      const minor = v.replace(/^1\./, '0.');
      writeFileSync(
        join(dir, 'go.mod'),
        [
          'module portico.invalid/k8sbin',
          '',
          'go 1.26.0',
          '',
          `require k8s.io/kubernetes v${v}`,
          '',
          'replace (',
          ...staging.map((m) => `\t${m} => ${m} v${minor}`),
          ')',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'tools.go'),
        `//go:build tools\n\npackage tools\n\nimport (\n${K8S_BINARIES.map((b) => `\t_ "k8s.io/kubernetes/cmd/${b}"`).join('\n')}\n)\n`,
      );
      await run('go', ['mod', 'tidy'], { cwd: dir, logFile, env: goEnv });
      const [major, minorNum] = v.split('.');
      const stamp = (pkg: string) =>
        [`-X ${pkg}.gitVersion=v${v}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minorNum}`, `-X ${pkg}.gitTreeState=clean`];
      const ldflags = ['-s -w', ...stamp('k8s.io/component-base/version'), ...stamp('k8s.io/client-go/pkg/version')].join(' ');
      await run('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', 'out/', ...K8S_BINARIES.map((b) => `k8s.io/kubernetes/cmd/${b}`)], {
        cwd: dir,
        logFile,
        env: goEnv,
      });
      mkdirSync(dirname(binPath('kube-apiserver')), { recursive: true });
      for (const b of K8S_BINARIES) renameSync(join(dir, 'out', b), binPath(b));
    });
  });
}

export async function ensureEtcd(): Promise<void> {
  if (existsSync(binPath('etcd'))) return;
  await withLock('etcd', async () => {
    if (existsSync(binPath('etcd'))) return;
    const dir = join(cacheRoot(), 'build', `etcd-v${VERSIONS.etcd}`);
    const logFile = join(cacheRoot(), 'build', 'etcd.log');
    mkdirSync(dir, { recursive: true });
    await timed('etcd', async () => {
      writeFileSync(join(dir, 'go.mod'), `module portico.invalid/etcdbin\n\ngo 1.26.0\n\ntool go.etcd.io/etcd/server/v3\n`);
      await run('go', ['get', `go.etcd.io/etcd/server/v3@v${VERSIONS.etcd}`], { cwd: dir, logFile, env: goEnv });
      mkdirSync(dirname(binPath('etcd')), { recursive: true });
      await run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', binPath('etcd'), 'go.etcd.io/etcd/server/v3'], { cwd: dir, logFile, env: goEnv });
    });
  });
}

/** The upstream conformance echo server, built from our conformance/suite module (its `tool` line). */
export async function ensureEchoBasic(): Promise<void> {
  if (existsSync(binPath('echo-basic'))) return;
  await withLock('echo-basic', async () => {
    if (existsSync(binPath('echo-basic'))) return;
    const logFile = join(cacheRoot(), 'build', 'echo-basic.log');
    await timed('echo-basic', async () => {
      mkdirSync(dirname(binPath('echo-basic')), { recursive: true });
      await run('go', ['build', '-trimpath', '-o', binPath('echo-basic'), 'sigs.k8s.io/gateway-api/conformance/echo-basic'], {
        cwd: suiteDir,
        logFile,
        env: goEnv,
      });
    });
  });
}

/** Compiles our conformance test binary (conformance/suite) into the cache. Rebuilt when asked. */
export async function buildSuite(): Promise<string> {
  return withLock('conformance-suite', async () => {
    const logFile = join(cacheRoot(), 'build', 'conformance-suite.log');
    mkdirSync(dirname(binPath('conformance.test')), { recursive: true });
    await run('go', ['test', '-c', '-o', binPath('conformance.test'), '.'], { cwd: suiteDir, logFile, env: goEnv });
    return binPath('conformance.test');
  });
}

/** The experimental-channel CRDs of the pinned Gateway API release, from the Go module cache. */
export async function gatewayCrdDir(): Promise<string> {
  const { Dir } = await moduleDir('sigs.k8s.io/gateway-api', `v${VERSIONS.gatewayAPI}`);
  return join(Dir, 'config', 'crd', 'experimental');
}

export async function goAvailable(): Promise<boolean> {
  try {
    await capture('go', ['version'], process.cwd());
    return true;
  } catch {
    return false;
  }
}
