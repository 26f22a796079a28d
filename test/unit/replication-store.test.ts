import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TidelineError } from '../../app/errors';
import type { Peer, Vm, VpgSettings } from '../../app/protocol';
import { planVpg, type VpgPlanInput } from '../../agent/replication/vpg-plan';
import { VpgStore, VpgsFileSchema, type StoredVpg } from '../../agent/replication/vpg-store';
import { publicVpg } from '../../agent/replication/vpg-view';
import { VpgSchema } from '../../app/protocol';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const settings: VpgSettings = {
  name: 'web + db',
  vmIds: ['vm-web', 'vm-db'],
  recoverySiteId: 'site-dr',
  recoveryHostId: 'host-dr',
  recoveryDatastore: 'datastore1',
  journal: { historySeconds: 3600, hardLimitBytes: 2 ** 30, warningBytes: 2 ** 29 },
  checkpointIntervalMs: 5000,
  rpoTargetSeconds: 30,
};

function stored(vpgId: string, extra: Partial<StoredVpg> = {}): StoredVpg {
  return {
    ...settings,
    vpgId,
    protectedSiteId: 'site-hq',
    disks: [{ vmId: 'vm-web', diskId: 'disk-1', sizeBytes: 2 ** 30 }],
    status: 'Initializing',
    createdAt: 1,
    version: 0,
    role: 'source',
    peerAgentId: 'agent-dr',
    ...extra,
  };
}

function vm(vmId: string, name: string, diskIds: string[]): Vm {
  return {
    vmId,
    name,
    hostId: 'host-hq',
    powerState: 'running',
    cpus: 2,
    memoryMiB: 2048,
    guestOs: 'Debian 12',
    nics: [],
    disks: diskIds.map((diskId) => ({
      diskId,
      name: diskId,
      sizeBytes: 2 ** 30,
      datastore: 'datastore1',
      location: `/data/${diskId}.raw`,
    })),
  };
}

const peer: Peer = {
  agentId: 'agent-dr',
  siteId: 'site-dr',
  siteName: 'Recovery DC',
  address: '127.0.0.1:7444',
  fingerprint: `${'AB:'.repeat(31)}AB`,
  pairedAt: 1,
  compression: 'off',
  link: 'connected',
};

test('the VPG store persists both roles and pending removals atomically', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-vpgs-'));
  dirs.push(dir);
  const file = join(dir, 'vpgs.json');
  const store = new VpgStore(file);
  await store.load();
  assert.deepEqual(store.list(), []);
  await store.add(stored('vpg-1', { seeding: true }));
  await store.add(stored('vpg-2', { role: 'target', peerAgentId: 'agent-hq' }));
  await assert.rejects(
    store.add(stored('vpg-1')),
    (err: unknown) => err instanceof TidelineError && err.code === 'ALREADY_EXISTS',
  );
  await store.update('vpg-1', (v) => ({ ...v, status: 'Protecting' }));
  await store.remove('vpg-2', { vpgId: 'vpg-2', peerAgentId: 'agent-hq', removedAt: 5 });
  const again = new VpgStore(file);
  await again.load();
  assert.deepEqual(
    again.list().map((v) => [v.vpgId, v.status, v.seeding]),
    [['vpg-1', 'Protecting', true]],
  );
  assert.deepEqual(again.pendingRemovals(), [
    { vpgId: 'vpg-2', peerAgentId: 'agent-hq', removedAt: 5 },
  ]);
  await again.clearPendingRemoval('vpg-2');
  const file1 = VpgsFileSchema.parse(JSON.parse(await readFile(file, 'utf8')));
  assert.deepEqual(file1.pendingRemovals, []);
  // The protocol view drops the agent's own fields (the strict schemas refuse them).
  assert.equal(VpgSchema.safeParse(publicVpg(again.get('vpg-1') as StoredVpg)).success, true);

  await writeFile(file, '{"version":1,"vpgs":[{"vpgId":1}],"pendingRemovals":[]}');
  await assert.rejects(new VpgStore(file).load(), /VPG list .* is not valid: vpgs\[0\]/);
});

test('vpg.create is planned against this site and its peers, each refusal saying why', () => {
  const vms = [vm('vm-web', 'web-01', ['disk-1']), vm('vm-db', 'db-01', ['disk-2', 'disk-3'])];
  const input: VpgPlanInput = { settings, siteId: 'site-hq', vms, peers: [peer], existing: [] };
  const plan = planVpg(input);
  assert.equal(plan.peer.agentId, 'agent-dr');
  assert.deepEqual(
    plan.disks.map((d) => [d.vmId, d.diskId]),
    [
      ['vm-web', 'disk-1'],
      ['vm-db', 'disk-2'],
      ['vm-db', 'disk-3'],
    ],
  );
  assert.equal(plan.diskPaths.get('disk-3'), '/data/disk-3.raw');

  const refuse = (change: Partial<VpgPlanInput>, code: string, message: RegExp): void => {
    assert.throws(
      () => planVpg({ ...input, ...change }),
      (err: unknown) =>
        err instanceof TidelineError && err.code === code && message.test(err.message),
    );
  };
  refuse({ vms: [vms[0] as Vm] }, 'NOT_FOUND', /vm-db is not on this agent's hosts/);
  refuse({ existing: [stored('other', { name: 'web + db' })] }, 'ALREADY_EXISTS', /already exists/);
  refuse(
    { existing: [stored('other', { name: 'x', vmIds: ['vm-db'] })] },
    'CONFLICT',
    /db-01 is already protected by VPG "x"/,
  );
  refuse({ peers: [] }, 'NOT_FOUND', /not paired with this site/);
  refuse(
    { peers: [{ ...peer, link: 'connecting', lastError: 'ECONNREFUSED' }] },
    'UNAVAILABLE',
    /link to site "Recovery DC" is connecting \(ECONNREFUSED\)/,
  );
  refuse({ siteId: 'site-dr' }, 'INVALID_PARAMS', /another site/);
  refuse(
    { vms: [vm('vm-web', 'web-01', ['../etc']), vms[1] as Vm] },
    'INVALID_PARAMS',
    /cannot name a file/,
  );
  refuse(
    { settings: { ...settings, vmIds: ['vm-web', 'vm-web'] } },
    'INVALID_PARAMS',
    /listed twice/,
  );
});
