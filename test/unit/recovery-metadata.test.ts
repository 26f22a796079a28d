import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { TidelineError } from '../../app/errors';
import type { Host, MetadataPackage, Network, Vm } from '../../app/protocol';
import { journalDirFor } from '../../agent/journal/layout';
import { MetadataCapture, type MetadataShip } from '../../agent/recovery/metadata-capture';
import { createMetadataHandlers } from '../../agent/recovery/metadata-handlers';
import { FileMetadataStore, metadataPath } from '../../agent/recovery/metadata-store';
import type { StoredVpg } from '../../agent/replication/vpg-store';
import type { Session } from '../../agent/control/session';

const log = pino({ level: 'silent' });
const PROTECTED = 'site-hq';
const RECOVERY_AGENT = 'agent-dr';
const HQ_AGENT = 'agent-hq';
const caller = { agentId: HQ_AGENT, siteName: 'Headquarters' };

const hosts: Host[] = [
  {
    hostId: 'host-1',
    name: 'esx-01',
    hypervisor: 'sim',
    hypervisorVersion: '1',
    agentState: 'installed',
    cpuCores: 8,
    memoryMiB: 65536,
    datastores: [],
  },
];

function vm(vmId: string, name: string, network: string, memoryMiB = 2048): Vm {
  return {
    vmId,
    name,
    hostId: 'host-1',
    powerState: 'running',
    cpus: 2,
    memoryMiB,
    guestOs: 'linux',
    nics: [{ name: 'eth0', mac: '52:54:00:00:00:01', network, ipAddress: '10.20.0.15' }],
    disks: [
      {
        diskId: `${vmId}-d0`,
        name: 'disk0',
        sizeBytes: 16 << 20,
        datastore: 'ds1',
        location: `/data/${vmId}-d0.raw`,
      },
    ],
  };
}

function storedVpg(over: Partial<StoredVpg> = {}): StoredVpg {
  return {
    vpgId: 'vpg-1',
    name: 'web + db',
    vmIds: ['vm-db', 'vm-web'],
    protectedSiteId: PROTECTED,
    recoverySiteId: 'site-dr',
    recoveryHostId: 'host-dr',
    recoveryDatastore: 'ds1',
    journal: { historySeconds: 3600, hardLimitBytes: 2 << 30, warningBytes: 1 << 30 },
    checkpointIntervalMs: 5000,
    rpoTargetSeconds: 10,
    disks: [],
    status: 'Protecting',
    createdAt: 0,
    version: 0,
    role: 'source',
    peerAgentId: RECOVERY_AGENT,
    ...over,
  };
}

let root: string;
after(async () => rm(root, { recursive: true, force: true }));

interface Rig {
  inventory: { vms: Vm[]; networks: Network[] | undefined };
  source: StoredVpg;
  reachable: boolean;
  shipped: MetadataPackage[];
  capture: MetadataCapture;
  store: FileMetadataStore;
}

/** A capture (protected site) shipping straight into a store (recovery site), both on files. */
async function rig(dir: string, reuse?: Pick<Rig, 'inventory' | 'source' | 'store'>): Promise<Rig> {
  const inventory = reuse?.inventory ?? {
    vms: [vm('vm-web', 'web-01', 'lan'), vm('vm-db', 'db-01', 'backend'), vm('vm-x', 'x', 'lan')],
    networks: undefined,
  };
  const target = (): StoredVpg => ({ ...r.source, role: 'target', peerAgentId: HQ_AGENT });
  const store =
    reuse?.store ??
    new FileMetadataStore({
      dataDir: join(dir, 'dr'),
      log,
      vpg: (vpgId) => (vpgId === r.source.vpgId ? target() : undefined),
    });
  const ship: MetadataShip = async (peer, pkg) => {
    assert.equal(peer, RECOVERY_AGENT);
    if (!r.reachable) return 'unreachable';
    r.shipped.push(pkg);
    return store.put({ package: pkg }, caller);
  };
  const capture = new MetadataCapture({
    hypervisor: {
      listVms: async () => structuredClone(r.inventory.vms),
      listHosts: async () => hosts,
      listNetworks: async () => {
        if (r.inventory.networks === undefined) {
          throw new TidelineError('UNAVAILABLE', 'no networks in this test hypervisor');
        }
        return r.inventory.networks;
      },
    },
    siteId: PROTECTED,
    dir: join(dir, 'hq', 'metadata'),
    log,
    sources: () => [r.source],
    ship,
    intervalMs: 3_600_000,
    now: () => 1_700_000_000_000,
  });
  const r: Rig = {
    inventory,
    source: reuse?.source ?? storedVpg(),
    reachable: true,
    shipped: [],
    capture,
    store,
  };
  await mkdir(journalDirFor(join(dir, 'dr'), r.source.vpgId), { recursive: true });
  return r;
}

async function captured(r: Rig): Promise<MetadataPackage> {
  r.capture.capture();
  await r.capture.idle();
  const pkg = r.capture.latest(r.source.vpgId);
  assert.ok(pkg, 'a capture');
  return pkg;
}

describe('metadata capture and store', () => {
  let dir: string;
  beforeEach(async () => {
    root ??= await mkdtemp(join(tmpdir(), 'tideline-metadata-'));
    dir = await mkdtemp(join(root, 't-'));
  });

  it('captures the VPG’s VMs in its order, their hosts and networks, and ships the package', async () => {
    const r = await rig(dir);
    await r.capture.start();
    await r.capture.idle();
    const pkg = r.capture.latest('vpg-1');
    assert.ok(pkg);
    assert.equal(pkg.version, 1);
    assert.equal(pkg.vpgVersion, 0);
    assert.equal(pkg.protectedSiteId, PROTECTED);
    assert.deepEqual(
      pkg.vms.map((v) => v.vmId),
      ['vm-db', 'vm-web'],
    );
    assert.deepEqual(pkg.vms[1], vm('vm-web', 'web-01', 'lan'));
    assert.deepEqual(pkg.hosts, [{ hostId: 'host-1', name: 'esx-01' }]);
    // No listNetworks: the NICs' networks, subnet unknown.
    assert.deepEqual(pkg.networks, [
      { name: 'backend', isolated: false },
      { name: 'lan', isolated: false },
    ]);
    assert.deepEqual(r.store.latest('vpg-1'), pkg);
    const onDisk = JSON.parse(await readFile(metadataPath(join(dir, 'dr'), 'vpg-1'), 'utf8'));
    assert.deepEqual(onDisk, pkg);
    await r.capture.stop();
  });

  it('takes networks from the hypervisor when it lists them', async () => {
    const r = await rig(dir);
    r.inventory.networks = [
      { name: 'lan', isolated: false, subnet: '10.20.0.0/24' },
      { name: 'unused', isolated: false },
    ];
    const pkg = await captured(r);
    assert.deepEqual(pkg.networks, [
      { name: 'backend', isolated: false },
      { name: 'lan', isolated: false, subnet: '10.20.0.0/24' },
    ]);
  });

  it('bumps the version only when the content changes', async () => {
    const r = await rig(dir);
    const first = await captured(r);
    assert.equal((await captured(r)).version, 1, 'same content, same version');
    assert.equal(r.shipped.length, 1, 'an unchanged package is not sent again');
    r.source = { ...r.source, version: 1 }; // a settings change (vpg.update)
    const second = await captured(r);
    assert.equal(second.version, 2);
    assert.equal(second.vpgVersion, 1);
    r.inventory.vms[1] = vm('vm-db', 'db-01', 'backend', 8192); // the VM was resized
    const third = await captured(r);
    assert.equal(third.version, 3);
    assert.equal(third.vms[0]?.memoryMiB, 8192);
    r.inventory.vms[2] = vm('vm-x', 'x', 'elsewhere'); // not in the VPG
    assert.equal((await captured(r)).version, 3);
    assert.equal(r.store.latest('vpg-1')?.version, 3);
    assert.notDeepEqual(first, third);
  });

  it('ships what the recovery site missed at the next capture or link up', async () => {
    const r = await rig(dir);
    await captured(r);
    r.reachable = false;
    r.source = { ...r.source, version: 1 };
    assert.equal((await captured(r)).version, 2);
    assert.equal(r.store.latest('vpg-1')?.version, 1, 'not there while the link is down');
    r.reachable = true;
    r.capture.linkUp('another-agent');
    await r.capture.idle();
    assert.equal(r.store.latest('vpg-1')?.version, 1, 'another site’s link changes nothing');
    r.capture.linkUp(RECOVERY_AGENT);
    await r.capture.idle();
    assert.equal(r.store.latest('vpg-1')?.version, 2);
    // And without a link-up event: the next capture.
    r.reachable = false;
    r.source = { ...r.source, version: 2 };
    await captured(r);
    r.reachable = true;
    await captured(r);
    assert.equal(r.store.latest('vpg-1')?.version, 3);
  });

  it('keeps numbering across a restart of either site; the store keeps the newest', async () => {
    const r = await rig(dir);
    r.source = { ...r.source, version: 4 };
    await captured(r);
    r.source = { ...r.source, version: 5 };
    assert.equal((await captured(r)).version, 2);
    await r.capture.stop();

    // The protected site restarts: same content, same version (sent again, harmlessly).
    const again = await rig(dir, r);
    await again.capture.start();
    await again.capture.idle();
    assert.equal(again.capture.latest('vpg-1')?.version, 2);
    again.source = { ...again.source, version: 6 };
    assert.equal((await captured(again)).version, 3);
    await again.capture.stop();

    // The recovery site restarts: its file is read back.
    const reloaded = new FileMetadataStore({
      dataDir: join(dir, 'dr'),
      log,
      vpg: () => ({ ...r.source, role: 'target', peerAgentId: HQ_AGENT }),
    });
    await reloaded.load(['vpg-1', 'vpg-without-file']);
    assert.equal(reloaded.latest('vpg-1')?.version, 3);
    assert.equal(reloaded.latest('vpg-1')?.vpgVersion, 6);
    assert.equal(reloaded.latest('vpg-without-file'), undefined);
  });

  it('never lets an older version replace a newer one', async () => {
    const r = await rig(dir);
    const pkg = await captured(r);
    const newer = { ...pkg, version: 7, vpgVersion: 9 };
    assert.deepEqual(await r.store.put({ package: newer }, caller), { version: 7 });
    assert.deepEqual(await r.store.put({ package: pkg }, caller), { version: 7 });
    assert.equal(r.store.latest('vpg-1')?.vpgVersion, 9);
    const onDisk = JSON.parse(await readFile(metadataPath(join(dir, 'dr'), 'vpg-1'), 'utf8'));
    assert.equal(onDisk.version, 7);
  });

  it('goes above the recovery site’s number when its own capture file was lost', async () => {
    const r = await rig(dir);
    const pkg = await captured(r);
    await r.store.put({ package: { ...pkg, version: 5 } }, caller);
    await r.capture.stop();
    await rm(join(dir, 'hq', 'metadata'), { recursive: true });
    const fresh = await rig(dir, r);
    fresh.source = { ...fresh.source, version: 3 };
    await fresh.capture.start();
    await fresh.capture.idle();
    assert.equal(fresh.capture.latest('vpg-1')?.version, 6);
    assert.equal(fresh.store.latest('vpg-1')?.version, 6);
    assert.equal(fresh.store.latest('vpg-1')?.vpgVersion, 3);
    await fresh.capture.stop();
  });

  it('refuses packages from another agent or for a VPG it does not receive', async () => {
    const r = await rig(dir);
    const pkg = await captured(r);
    await assert.rejects(
      r.store.put({ package: pkg }, { agentId: 'intruder', siteName: 'Elsewhere' }),
      (err: unknown) => err instanceof TidelineError && err.code === 'NOT_FOUND',
    );
    await assert.rejects(
      r.store.put({ package: { ...pkg, vpgId: 'vpg-2' } }, caller),
      /does not receive VPG vpg-2/,
    );
    await assert.rejects(
      r.store.put({ package: { ...pkg, protectedSiteId: 'site-other' } }, caller),
      (err: unknown) => err instanceof TidelineError && err.code === 'CONFLICT',
    );
    await assert.rejects(
      r.store.put({ package: { ...pkg, version: 0 } }, caller),
      (err: unknown) => err instanceof TidelineError && err.code === 'INVALID_PARAMS',
    );
  });

  it('forgets a capture of a removed VPG, and the store a package of a dropped one', async () => {
    const r = await rig(dir);
    await captured(r);
    await r.capture.removed('vpg-1');
    assert.equal(r.capture.latest('vpg-1'), undefined);
    assert.deepEqual(await readdir(join(dir, 'hq', 'metadata')), []);
    // A file left by a crash is dropped at start when its VPG is gone.
    await writeFile(join(dir, 'hq', 'metadata', 'vpg-gone.json'), '{}');
    const restarted = await rig(dir, r);
    await restarted.capture.start();
    await restarted.capture.idle();
    assert.deepEqual(await readdir(join(dir, 'hq', 'metadata')), ['vpg-1.json']);
    await restarted.capture.stop();
    const store = new FileMetadataStore({ dataDir: join(dir, 'dr'), log, vpg: () => undefined });
    await store.load(['vpg-1']);
    assert.equal(store.latest('vpg-1'), undefined, 'not received here (any more)');
  });
});

describe('vpg.metadata handler', () => {
  const session = {} as Session;
  const pkg = { version: 3 } as MetadataPackage;
  const handlers = createMetadataHandlers({
    hypervisor: { listNetworks: async () => [{ name: 'lan', isolated: false }] },
    vpg: (vpgId) =>
      vpgId === 'received'
        ? storedVpg({ vpgId, role: 'target', name: 'Received' })
        : vpgId === 'protected'
          ? storedVpg({ vpgId, name: 'Protected' })
          : undefined,
    store: { latest: (vpgId) => (vpgId === 'received' ? pkg : undefined) },
    captured: () => undefined,
  });

  it('answers from the store at the recovery site and NOT_FOUND with the reason otherwise', async () => {
    assert.equal(await handlers['vpg.metadata']({ vpgId: 'received' }, session), pkg);
    await assert.rejects(
      async () => handlers['vpg.metadata']({ vpgId: 'protected' }, session),
      (err: unknown) =>
        err instanceof TidelineError &&
        err.code === 'NOT_FOUND' &&
        /VPG "Protected" has not been captured yet/.test(err.message),
    );
    await assert.rejects(
      async () => handlers['vpg.metadata']({ vpgId: 'nope' }, session),
      /VPG nope is not on this agent/,
    );
    assert.deepEqual(await handlers['network.list'](undefined, session), [
      { name: 'lan', isolated: false },
    ]);
  });
});
