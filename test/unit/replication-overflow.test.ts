import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Host, Vm, VpgState } from '../../app/protocol';
import { dataDirLayout } from '../../agent/config/data-dir';
import type { HypervisorAdapter } from '../../agent/hypervisor/adapter';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { Journal } from '../../agent/journal/journal';
import { journalDirFor } from '../../agent/journal/layout';
import type { LinkTuning, PeerLink } from '../../agent/peer/peer-link';
import { PeerService } from '../../agent/peer/peer-service';
import { ReplicationEngine } from '../../agent/replication/engine';
import { inventoryHypervisor } from '../helpers/inventory-hypervisor';
import { createSelfSignedIdentity } from '../../agent/security/certificate';

/**
 * Two replication engines in one process (real peer links over TLS on 127.0.0.1, a minimal
 * sim-like hypervisor each): the outbox of the protected site overflows while the link is
 * down, the VPG keeps dirty bitmaps (Resyncing), resends the dirty regions once the link is
 * back, and the recovery site's image at a checkpoint taken after it equals the source disks.
 */

const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });
/** The protected site's log lines ("resync done" says how the resync went). */
const sourceLines: { msg?: string; [field: string]: unknown }[] = [];
const sourceLog = pino(
  { level: 'info' },
  { write: (line: string) => sourceLines.push(JSON.parse(line) as { msg?: string }) },
);
const MiB = 1024 * 1024;
const TUNING: Partial<LinkTuning> = {
  keepaliveMs: 1000,
  handshakeTimeoutMs: 3000,
  backoff: { initialMs: 20, maxMs: 200 },
};

interface Node {
  readonly agentId: string;
  readonly siteId: string;
  readonly root: string;
  readonly peers: PeerService;
  readonly engine: ReplicationEngine;
  readonly vms: Vm[];
}

const nodes: Node[] = [];
const dirs: string[] = [];

function hypervisor(host: Host, vms: Vm[]): HypervisorAdapter {
  return inventoryHypervisor({
    listHosts: async () => [structuredClone(host)],
    listVms: async () => structuredClone(vms),
  });
}

async function node(agentId: string, withVm: boolean): Promise<Node> {
  const root = await mkdtemp(join(tmpdir(), `tideline-overflow-${agentId}-`));
  dirs.push(root);
  const layout = dataDirLayout(root);
  await mkdir(layout.stateDir, { recursive: true });
  const identity = await createSelfSignedIdentity({
    commonName: `tideline-agent ${agentId}`,
    altNames: ['127.0.0.1'],
  });
  const siteId = `site-${agentId}`;
  const host: Host = {
    hostId: `host-${agentId}`,
    name: `${agentId}-hv01`,
    hypervisor: 'sim',
    hypervisorVersion: 'test',
    agentState: 'installed',
    cpuCores: 4,
    memoryMiB: 8192,
    datastores: [{ name: 'ds1', capacityBytes: 1024 * MiB, freeBytes: 1024 * MiB }],
  };
  const vms: Vm[] = [];
  if (withVm) {
    const disks = [];
    for (const diskId of ['disk-a', 'disk-b']) {
      const location = join(root, 'datastores', 'ds1', 'vm', `${diskId}.raw`);
      await createSparseFile(location, 8 * MiB);
      disks.push({ diskId, name: diskId, sizeBytes: 8 * MiB, datastore: 'ds1', location });
    }
    vms.push({
      vmId: 'vm-1',
      name: 'app-01',
      hostId: host.hostId,
      powerState: 'running',
      cpus: 2,
      memoryMiB: 2048,
      guestOs: 'Debian 12',
      nics: [],
      disks,
    });
  }
  const peers = new PeerService({
    agentId,
    siteId,
    fingerprint: identity.fingerprint,
    siteName: () => `Site ${agentId}`,
    tls: identity,
    listen: { host: '127.0.0.1', port: 0 },
    peersFile: layout.peersFile,
    log,
    tuning: TUNING,
    onPeersChanged: () => undefined,
  });
  const engine = new ReplicationEngine({
    layout,
    siteId,
    hypervisor: hypervisor(host, vms),
    peers,
    log: withVm ? sourceLog : log,
    outboxLimitBytes: 1 * MiB,
    tickMs: 100,
    events: { rpoTick: () => undefined, vpgStatus: () => undefined },
  });
  await engine.start();
  await peers.start();
  const created = { agentId, siteId, root, peers, engine, vms };
  nodes.push(created);
  return created;
}

async function up(link: PeerLink | undefined): Promise<PeerLink> {
  assert.ok(link);
  if (link.state !== 'connected') await once(link, 'up');
  return link;
}

async function until(
  engine: ReplicationEngine,
  vpgId: string,
  predicate: (s: VpgState) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<VpgState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = engine.state(vpgId);
    if (predicate(state)) return state;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(state)}`);
    await sleep(50);
  }
}

let hq: Node;
let dr: Node;

before(async () => {
  hq = await node('agent-a', true); // dials
  dr = await node('agent-b', false);
  const token = hq.peers.pairingToken();
  await dr.peers.pair({
    address: token.address,
    token: token.token,
    fingerprint: token.fingerprint,
  });
  await up(hq.peers.link('agent-b'));
});

after(async () => {
  for (const n of nodes) {
    await n.engine.stop();
    await n.peers.stop();
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('an outbox overflow during a link outage is resynced from the dirty regions', async () => {
  const created = await hq.engine.create({
    name: 'overflow',
    vmIds: ['vm-1'],
    recoverySiteId: dr.siteId,
    recoveryHostId: 'host-agent-b',
    recoveryDatastore: 'ds1',
    journal: { historySeconds: 3600, hardLimitBytes: 512 * MiB, warningBytes: 256 * MiB },
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: 30,
  });
  const vpgId = created.vpgId;
  await until(hq.engine, vpgId, (s) => s.status === 'Protecting', 'Protecting');

  // The link goes down (the acceptor stops taking connections), the VM keeps writing.
  const accepting = await up(dr.peers.link('agent-a'));
  await accepting.stop('test: link outage');
  await hq.engine.setWorkload({ vmId: 'vm-1', bytesPerSecond: 4 * MiB, locality: 1 });
  const overflowed = await until(
    hq.engine,
    vpgId,
    (s) => s.status === 'Resyncing',
    'Resyncing after the outbox overflowed',
  );
  assert.match(overflowed.statusMessage ?? '', /link to the recovery site is down|outbox/);
  await sleep(500); // more writes, now only marked in the bitmaps

  accepting.start();
  await until(hq.engine, vpgId, (s) => s.status === 'Protecting', 'Protecting after the resync');
  await hq.engine.setWorkload({ vmId: 'vm-1', bytesPerSecond: 4 * MiB, paused: true });
  // 4 MiB/s against a 1 MiB outbox: a slow moment between "Protecting" and the pause may
  // have overflowed it again (a busy CI host), and that resync must end before a checkpoint
  // can be consistent. Paused, nothing can overflow it any more.
  await until(hq.engine, vpgId, (s) => s.status === 'Protecting', 'Protecting, paused');
  // The resync compared block hashes with the recovery site (delta sync).
  const resync = sourceLines.find((l) => l.msg === 'resync done');
  assert.ok(resync, 'the resync finished');
  assert.ok(
    Number(resync['hashRequests']) > 0,
    `it asked the target's hashes: ${JSON.stringify(resync)}`,
  );
  assert.ok(Number(resync['scannedBytes']) > 0);
  process.stdout.write(
    `# resync: ${String(resync['dataBytes'])} bytes sent of ${String(resync['scannedBytes'])} examined, ${String(resync['hashRequests'])} hash requests\n`,
  );
  assert.ok(Number(resync['dataBytes']) <= Number(resync['scannedBytes']));
  const c = hq.engine.insertCheckpoint(vpgId, 'after-resync');
  const confirmed = await hq.engine.waitForCheckpoint(vpgId, c.seq, 10_000);
  assert.equal(confirmed.confirmed, true);
  assert.equal(confirmed.inconsistent, undefined, 'a recoverable point again');
  const sources = new Map(
    await Promise.all(
      (hq.vms[0]?.disks ?? []).map(async (d) => [d.diskId, await readFile(d.location)] as const),
    ),
  );

  await dr.engine.stop();
  const journal = await Journal.openExisting(journalDirFor(dr.root, vpgId));
  try {
    for (const [diskId, expected] of sources) {
      const image = await journal.readAt(diskId, 0, 8 * MiB, c.seq);
      assert.ok(image.equals(expected), `disk ${diskId} at the recovery site equals the source`);
      assert.ok(!expected.equals(Buffer.alloc(8 * MiB)), 'the VM did write');
    }
  } finally {
    await journal.close();
  }
});
