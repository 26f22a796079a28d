import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { access, open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointInfoSchema, VpgStateSchema, type Vm, type VpgState } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  MiB,
  call,
  createVpg,
  errorOf,
  exportDisk,
  insertCheckpoint,
  isStatus,
  pairedSites,
  setWorkload,
  sha256File,
  startSite,
  stopSite,
  untilLinked,
  untilVpg,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';
import { ErrorCodes } from '../../app/errors';

const { NOT_FOUND, CONFLICT, UNAVAILABLE, INVALID_PARAMS, ALREADY_EXISTS, TIMEOUT } = ErrorCodes;

/**
 * The VPG lifecycle between two real agents: what vpg.create refuses and why, initial sync of
 * a disk that already holds data, restarts of both sides, checkpoints and workloads refused
 * where they make no sense, and vpg.remove with the recovery site down (its part is deleted
 * when it is back).
 */

let hq: Site;
let dr: Site;
let inventory: Vm[] = [];
let seeded: VpgState;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const list = async (site: Site): Promise<VpgState[]> =>
  VpgStateSchema.array().parse(await call(site, 'vpg.list'));

before(async () => {
  [hq, dr] = await pairedSites();
  inventory = await vms(hq);
});
after(cleanupAgents);

describe('VPG lifecycle between two agents', { timeout: 120_000 }, () => {
  it('refuses VPGs it cannot protect, each with the reason', async () => {
    const host = (await call<{ hostId: string }[]>(dr, 'host.list'))[0];
    assert.ok(host);
    const base = {
      name: 'refused',
      vmIds: [inventory[0]?.vmId],
      recoverySiteId: dr.siteId,
      recoveryHostId: host.hostId,
      recoveryDatastore: 'datastore1',
      journal: { historySeconds: 600, hardLimitBytes: 1024 * MiB, warningBytes: 512 * MiB },
      rpoTargetSeconds: 30,
    };
    const unknownVm = await errorOf(hq, 'vpg.create', { ...base, vmIds: ['vm-nope'] });
    assert.equal(unknownVm.code, NOT_FOUND);
    assert.match(unknownVm.message, /vm-nope is not on this agent's hosts/);
    const unpaired = await errorOf(hq, 'vpg.create', { ...base, recoverySiteId: randomUUID() });
    assert.equal(unpaired.code, NOT_FOUND);
    assert.match(unpaired.message, /not paired with this site: pair the sites first/);
    const itself = await errorOf(hq, 'vpg.create', { ...base, recoverySiteId: hq.siteId });
    assert.equal(itself.code, INVALID_PARAMS);
    const badDatastore = await errorOf(hq, 'vpg.create', {
      ...base,
      recoveryDatastore: 'nowhere',
    });
    assert.equal(badDatastore.code, NOT_FOUND);
    assert.match(badDatastore.message, /Recovery DC.*no datastore "nowhere"/s);
    const badHost = await errorOf(hq, 'vpg.create', { ...base, recoveryHostId: 'host-nope' });
    assert.equal(badHost.code, NOT_FOUND);
    assert.deepEqual(await list(hq), [], 'nothing was kept of the refused VPGs');
    assert.deepEqual(await list(dr), []);
  });

  it('seeds a VM whose disk already holds data, then protects it: the oracle holds', async () => {
    const vm = inventory[0] as Vm;
    const disk = vm.disks[0];
    assert.ok(disk);
    // The VM wrote before it was protected: 3 MiB of data in its 16 MiB disk.
    const handle = await open(disk.location, 'r+');
    for (const at of [0, 5 * MiB, 11 * MiB]) await handle.write(randomBytes(MiB), 0, MiB, at);
    await handle.sync();
    await handle.close();
    const statuses: string[] = [];
    const watching = (async () => {
      for (;;) {
        const change = await hq.client
          .notification<{ status: string }>('vpg.status', 15_000)
          .catch(() => undefined);
        if (change === undefined) return;
        statuses.push(change.status);
        if (change.status === 'Protecting') return;
      }
    })();
    seeded = await createVpg(hq, dr, { name: 'seeded', vmIds: [vm.vmId] });
    await untilVpg(hq, seeded.vpgId, isStatus('Protecting'), 'Protecting after initial sync');
    await watching;
    assert.ok(statuses.includes('Seeding'), `initial sync was shown: ${statuses.join(' → ')}`);
    assert.equal(statuses.at(-1), 'Protecting');
    const checkpoint = await waitForCheckpoint(
      hq,
      await insertCheckpoint(hq, seeded.vpgId, 'after-seed'),
    );
    const all = CheckpointInfoSchema.array().parse(
      await call(hq, 'checkpoint.list', { vpgId: seeded.vpgId }),
    );
    assert.ok(all.some((c) => c.inconsistent !== true && c.confirmed));
    assert.equal(all.find((c) => c.seq === checkpoint.seq)?.name, 'after-seed');
    const atTarget = CheckpointInfoSchema.array().parse(
      await call(dr, 'checkpoint.list', { vpgId: seeded.vpgId }),
    );
    assert.ok(atTarget.some((c) => c.seq === checkpoint.seq && c.confirmed));
    // Keep the checkpoint's image for after the restarts (exported once dr is stopped).
    expectedSeed = { seq: checkpoint.seq, sha256: await sha256File(disk.location) };
  });

  it('refuses what makes no sense: workloads of unprotected VMs, names taken twice, checkpoints at the target', async () => {
    const unprotected = inventory[1] as Vm;
    const refused = await errorOf(hq, 'vm.setWorkload', {
      vmId: unprotected.vmId,
      bytesPerSecond: MiB,
    });
    assert.equal(refused.code, CONFLICT);
    assert.match(refused.message, /protect the VM in a VPG first/);
    const idle = await setWorkload(hq, unprotected.vmId, 0);
    assert.equal(idle.bytesPerSecond, 0);
    const twice = await errorOf(hq, 'vpg.create', {
      ...settingsOf(seeded),
      vmIds: [unprotected.vmId],
    });
    assert.equal(twice.code, ALREADY_EXISTS);
    const sameVm = await errorOf(hq, 'vpg.create', { ...settingsOf(seeded), name: 'again' });
    assert.equal(sameVm.code, CONFLICT);
    assert.match(sameVm.message, /already protected by VPG "seeded"/);
    const atTarget = await errorOf(dr, 'checkpoint.insert', { vpgId: seeded.vpgId, name: 'x' });
    assert.equal(atTarget.code, CONFLICT);
    const removeAtTarget = await errorOf(dr, 'vpg.remove', { vpgId: seeded.vpgId });
    assert.equal(removeAtTarget.code, CONFLICT);
    const unknown = await errorOf(hq, 'vpg.state', { vpgId: 'vpg-nope' });
    assert.equal(unknown.code, NOT_FOUND);
  });

  it('resumes every VPG after both agents restart', async () => {
    await stopSite(hq);
    await stopSite(dr);
    await startSite(dr);
    await startSite(hq);
    const [onHq] = await list(hq);
    assert.equal(onHq?.vpgId, seeded.vpgId);
    assert.equal(onHq?.role, 'source');
    const onDr = await list(dr);
    assert.equal(onDr[0]?.role, 'target');
    await untilVpg(hq, seeded.vpgId, isStatus('Protecting'), 'Protecting after the restart');
    const c = await insertCheckpoint(hq, seeded.vpgId, 'after-restart');
    assert.equal((await waitForCheckpoint(hq, c)).confirmed, true);
  });

  it('refuses to create while the link is down, and times out waiting for a checkpoint', async () => {
    await stopSite(dr);
    await untilLinked(hq, false);
    const down = await errorOf(hq, 'vpg.create', {
      ...settingsOf(seeded),
      name: 'while down',
      vmIds: [inventory[2]?.vmId],
    });
    assert.equal(down.code, UNAVAILABLE);
    assert.match(down.message, /Recovery DC.*must be reachable/s);
    const c = await insertCheckpoint(hq, seeded.vpgId, 'never-there');
    const timeout = await errorOf(hq, 'checkpoint.waitFor', {
      vpgId: seeded.vpgId,
      seq: c.seq,
      timeoutMs: 500,
    });
    assert.equal(timeout.code, TIMEOUT);
    assert.match(timeout.message, /link to the recovery site is down/);
  });

  it('removes a VPG while the recovery site is down; its journal and replicas go when it is back', async () => {
    const disk = seeded.disks[0];
    assert.ok(disk);
    // The image of the checkpoint taken after initial sync, from the stopped recovery agent.
    const image = await exportDisk(dr.creds.dataDir, seeded.vpgId, disk.diskId, expectedSeed.seq);
    assert.equal(image.sha256, expectedSeed.sha256, 'the seeded disk, byte for byte');

    assert.deepEqual(await call(hq, 'vpg.remove', { vpgId: seeded.vpgId }), { removed: true });
    assert.deepEqual(await list(hq), []);
    assert.equal(await exists(join(hq.creds.dataDir, 'outbox', seeded.vpgId)), false);
    const journalDir = join(dr.creds.dataDir, 'journal', seeded.vpgId);
    const replicas = join(dr.creds.dataDir, 'datastores', 'datastore1', 'replicas', seeded.vpgId);
    assert.equal(await exists(journalDir), true, 'the recovery site still has it');
    await startSite(dr);
    const deadline = Date.now() + 20_000;
    // The journal goes first, then the replicas: wait for both.
    while (((await exists(journalDir)) || (await exists(replicas))) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await exists(journalDir), false, 'journal deleted once the link was back');
    assert.equal(await exists(replicas), false, 'replicas deleted');
    assert.deepEqual(await list(dr), []);
  });
});

let expectedSeed = { seq: 0, sha256: '' };

function settingsOf(vpg: VpgState) {
  return {
    name: vpg.name,
    vmIds: vpg.vmIds,
    recoverySiteId: vpg.recoverySiteId,
    recoveryHostId: vpg.recoveryHostId,
    recoveryDatastore: vpg.recoveryDatastore,
    journal: vpg.journal,
    checkpointIntervalMs: vpg.checkpointIntervalMs,
    rpoTargetSeconds: vpg.rpoTargetSeconds,
  };
}
