// Pod networking of the node agent, CNI-bridge style: one Linux bridge holding the node address,
// and per pod a network namespace joined to the bridge by a veth pair, with the pod IP on its eth0
// and a default route via the node. Every pod then owns its ports (echo-basic always binds :3000,
// :3001, :8443), and the host, where Portico runs, reaches pod IPs directly over the bridge.
import { execFile } from 'node:child_process';

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, (err, stdout, stderr) => (err ? reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout)));
  });
}

/** Runs `ip`, ignoring "File exists" so that setup can be repeated. */
async function ipIdempotent(args: string[]): Promise<void> {
  try {
    await ip(args);
  } catch (e) {
    if (!/File exists|already/.test(String(e))) throw e;
  }
}

export async function ensureBridge(bridge: string, cidrAddress: string): Promise<void> {
  await ipIdempotent(['link', 'add', bridge, 'type', 'bridge']);
  await ipIdempotent(['addr', 'add', cidrAddress, 'dev', bridge]);
  await ip(['link', 'set', bridge, 'up']);
}

/** Host-side veth name: at most 15 characters, unique per pod IP. */
export function vethName(podIP: string): string {
  return `ptc${podIP.split('.').slice(2).join('-')}`;
}

export async function createPodNetns(opts: { netns: string; podIP: string; prefixLen: number; gateway: string; bridge: string }): Promise<void> {
  const host = vethName(opts.podIP);
  // Leftovers of a crashed agent would make the adds below fail.
  await deletePodNetns(opts.netns, host);
  await ip(['netns', 'add', opts.netns]);
  await ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', opts.netns]);
  await ip(['link', 'set', host, 'master', opts.bridge, 'up']);
  await ip(['-n', opts.netns, 'addr', 'add', `${opts.podIP}/${opts.prefixLen}`, 'dev', 'eth0']);
  await ip(['-n', opts.netns, 'link', 'set', 'eth0', 'up']);
  await ip(['-n', opts.netns, 'link', 'set', 'lo', 'up']);
  await ip(['-n', opts.netns, 'route', 'add', 'default', 'via', opts.gateway]);
  // A pod IP used before still has the old pod's MAC in the host's neighbour table: traffic from
  // the host (Portico) would go to that dead MAC until the entry expires. Forget it now.
  await flushNeighbour(opts.podIP, opts.bridge);
}

export async function flushNeighbour(podIP: string, bridge: string): Promise<void> {
  try {
    await ip(['neigh', 'flush', 'to', podIP, 'dev', bridge]);
  } catch {
    /* no entry */
  }
}

/** Kills whatever still runs in the namespace, then removes it (the veth pair goes with it). */
export async function deletePodNetns(netns: string, hostVeth?: string): Promise<void> {
  try {
    const pids = (await ip(['netns', 'pids', netns])).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await ip(['netns', 'del', netns]);
  } catch {
    /* no such namespace */
  }
  if (hostVeth) {
    try {
      await ip(['link', 'del', hostVeth]);
    } catch {
      /* removed with the namespace */
    }
  }
}

/** Removes every pod namespace with the prefix and the bridge: the agent's complete footprint. */
export async function cleanupNetwork(prefix: string, bridge: string): Promise<void> {
  let list: string;
  try {
    list = await ip(['netns', 'list']);
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const name = line.split(/\s+/)[0];
    if (name && name.startsWith(prefix)) await deletePodNetns(name);
  }
  try {
    await ip(['link', 'del', bridge]);
  } catch {
    /* not there */
  }
}
