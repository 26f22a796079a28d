import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CheckpointInfoSchema,
  RpoTickSchema,
  VpgStateSchema,
  type CheckpointInfo,
  type Vm,
  type VpgState,
} from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  MiB,
  call,
  createVpg,
  errorOf,
  exportDiskInProcess,
  insertCheckpoint,
  isStatus,
  pairedSites,
  pauseAll,
  setWorkload,
  sha256File,
  sleep,
  startSite,
  stopSite,
  untilLinked,
  untilVpg,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';
import { ErrorCodes } from '../../app/errors';

const { NOT_FOUND, CONFLICT, UNAVAILABLE } = ErrorCodes;

/**
 * The rest of a VPG's life between two real agents: vpg.update of every setting (on both
 * sites, after restarts, stale versions refused), vpg.addVm under a running workload (the
 * new disks are synced; the oracle holds for every disk), vpg.removeVm, vpg.forceRemove with
 * the recovery agent stopped and at the recovery site, and the refusals with their reasons.
 */

let hq: Site;
let dr: Site;
let inventory: Vm[] = [];
let vpg: VpgState;
let other: VpgState;
const oracle: { checkpoint: CheckpointInfo; hashes: Map<string, string> }[] = [];

const vm = (i: number): Vm => {
  const found = inventory[i];
  assert.ok(found, `the sim site has a VM #${i}`);
  return found;
};
const stateOf = async (site: Site, vpgId: string): Promise<VpgState> =>
  VpgStateSchema.parse(await call(site, 'vpg.state', { vpgId }));
const list = async (site: Site): Promise<VpgState[]> =>
  VpgStateSchema.array().parse(await call(site, 'vpg.list'));
const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );
const replicaFile = (vpgId: string, diskId: string): string =>
  join(dr.creds.dataDir, 'datastores', 'datastore1', 'replicas', vpgId, `${diskId}.raw`);

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Workloads paused, a checkpoint confirmed at the recovery site, every source disk hashed. */
async function checkpointPaused(name: string, vmIds: readonly string[]): Promise<void> {
  await pauseAll(hq, vmIds, true);
  const confirmed = await waitForCheckpoint(hq, await insertCheckpoint(hq, vpg.vpgId, name));
  assert.equal(confirmed.inconsistent, undefined, `${name} is a consistent checkpoint`);
  const hashes = new Map<string, string>();
  for (const vmId of vmIds) {
    for (const disk of inventory.find((v) => v.vmId === vmId)?.disks ?? []) {
      hashes.set(disk.diskId, await sha256File(disk.location));
    }
  }
  oracle.push({ checkpoint: confirmed, hashes });
}

/** Exports (recovery agent stopped) each disk of an oracle entry and compares it. */
async function checkOracle(entry: (typeof oracle)[number]): Promise<void> {
  for (const [diskId, sha256] of entry.hashes) {
    const image = await exportDiskInProcess(
      dr.creds.dataDir,
      vpg.vpgId,
      diskId,
      entry.checkpoint.seq,
    );
    assert.equal(image.sha256, sha256, `disk ${diskId} at ${entry.checkpoint.name}, byte for byte`);
  }
}

before(async () => {
  [hq, dr] = await pairedSites();
  inventory = await vms(hq);
  assert.ok(inventory.length >= 3, 'three sim VMs at least');
});
after(cleanupAgents);

describe('changing a VPG on both sites', { timeout: 240_000 }, () => {
  it('updates every setting on both sites, at once; a stale version is refused', async () => {
    vpg = await createVpg(hq, dr, { name: 'app', vmIds: [vm(0).vmId], rpoTargetSeconds: 10 });
    assert.equal(vpg.version, 0);
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting');
    await setWorkload(hq, vm(0).vmId, MiB);
    const journal = { historySeconds: 1800, hardLimitBytes: 4096 * MiB, warningBytes: 3072 * MiB };
    const changed = Date.now();
    const updated = VpgStateSchema.parse(
      await call(hq, 'vpg.update', {
        vpgId: vpg.vpgId,
        version: 0,
        settings: {
          name: 'app (renamed)',
          journal,
          checkpointIntervalMs: 1000,
          rpoTargetSeconds: 42,
        },
      }),
    );
    assert.equal(updated.version, 1);
    assert.equal(updated.name, 'app (renamed)');
    assert.deepEqual(updated.journal, journal);
    assert.equal(updated.checkpointIntervalMs, 1000);
    assert.equal(updated.rpoTargetSeconds, 42);
    // The recovery site has the same configuration, and its live journal the new limits.
    const atDr = await stateOf(dr, vpg.vpgId);
    assert.equal(atDr.role, 'target');
    assert.equal(atDr.version, 1);
    assert.equal(atDr.name, 'app (renamed)');
    assert.deepEqual(atDr.journal, journal);
    assert.equal(atDr.checkpointIntervalMs, 1000);
    assert.equal(atDr.rpoTargetSeconds, 42);
    const journalConfig = JSON.parse(
      await readFile(join(dr.creds.dataDir, 'journal', vpg.vpgId, 'journal.json'), 'utf8'),
    ) as { historyMs: number; hardLimitBytes: number; warningBytes: number };
    assert.equal(journalConfig.historyMs, 1800 * 1000);
    assert.equal(journalConfig.hardLimitBytes, journal.hardLimitBytes);
    assert.equal(journalConfig.warningBytes, journal.warningBytes);
    // rpo.tick carries the new target.
    let tick;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const t = RpoTickSchema.parse(await hq.client.notification('rpo.tick', 5_000));
      if (t.vpgId === vpg.vpgId && t.rpoTargetSeconds === 42) {
        tick = t;
        break;
      }
    }
    assert.ok(tick, 'an rpo.tick with the new RPO target');
    // The source's checkpoint timer took the new interval without a restart.
    await sleep(4500);
    const automatic = CheckpointInfoSchema.array()
      .parse(await call(hq, 'checkpoint.list', { vpgId: vpg.vpgId }))
      .filter((c) => c.name === undefined && c.sourceTime > changed + 1100);
    assert.ok(automatic.length >= 3, `automatic checkpoints every second (${automatic.length})`);
    const gaps = automatic
      .slice(1)
      .map((c, i) => c.sourceTime - (automatic[i] as CheckpointInfo).sourceTime);
    assert.ok(Math.max(...gaps) < 1500, `checkpoint gaps ${gaps.join(', ')} ms`);

    const stale = await errorOf(hq, 'vpg.update', {
      vpgId: vpg.vpgId,
      version: 0,
      settings: { rpoTargetSeconds: 5 },
    });
    assert.equal(stale.code, CONFLICT);
    assert.match(stale.message, /version 0.*version 1/);
    const atTarget = await errorOf(dr, 'vpg.update', {
      vpgId: vpg.vpgId,
      version: 1,
      settings: { rpoTargetSeconds: 5 },
    });
    assert.equal(atTarget.code, CONFLICT);
    assert.match(atTarget.message, /protected site/);
    assert.equal((await stateOf(hq, vpg.vpgId)).rpoTargetSeconds, 42, 'refused: unchanged');
  });

  it('adds a VM with data under a running workload: its disks are synced, the oracle holds', async () => {
    const joining = vm(1);
    // The VM wrote before it joined: 3 MiB of data in its disk.
    for (const disk of joining.disks) {
      const handle = await open(disk.location, 'r+');
      for (const at of [0, 6 * MiB, 13 * MiB]) await handle.write(randomBytes(MiB), 0, MiB, at);
      await handle.sync();
      await handle.close();
    }
    await setWorkload(hq, vm(0).vmId, MiB);
    const added = VpgStateSchema.parse(
      await call(hq, 'vpg.addVm', { vpgId: vpg.vpgId, vmId: joining.vmId, version: 1 }),
    );
    assert.equal(added.version, 2);
    assert.deepEqual(added.vmIds, [vm(0).vmId, joining.vmId]);
    assert.equal(added.disks.length, vm(0).disks.length + joining.disks.length);
    const atDr = await stateOf(dr, vpg.vpgId);
    assert.deepEqual(atDr.vmIds, added.vmIds);
    assert.equal(atDr.version, 2);
    for (const disk of joining.disks) {
      assert.ok(await exists(replicaFile(vpg.vpgId, disk.diskId)), 'a replica for the new disk');
    }
    await setWorkload(hq, joining.vmId, MiB);
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting after the sync', 60_000);
    await sleep(1500);
    await checkpointPaused('after-addVm', [vm(0).vmId, joining.vmId]);

    const unknown = await errorOf(hq, 'vpg.addVm', { vpgId: vpg.vpgId, vmId: 'vm-nope' });
    assert.equal(unknown.code, NOT_FOUND);
    assert.match(unknown.message, /vm-nope is not on this agent's hosts/);
    const twice = await errorOf(hq, 'vpg.addVm', { vpgId: vpg.vpgId, vmId: joining.vmId });
    assert.equal(twice.code, CONFLICT);
    assert.match(twice.message, /already in VPG/);
    other = await createVpg(hq, dr, { name: 'other', vmIds: [vm(2).vmId] });
    const elsewhere = await errorOf(hq, 'vpg.addVm', { vpgId: vpg.vpgId, vmId: vm(2).vmId });
    assert.equal(elsewhere.code, CONFLICT);
    assert.match(elsewhere.message, /already protected by VPG "other": remove it from there first/);
    const staleAdd = await errorOf(hq, 'vpg.addVm', {
      vpgId: vpg.vpgId,
      vmId: vm(2).vmId,
      version: 1,
    });
    assert.equal(staleAdd.code, CONFLICT);
  });

  it('keeps every change after both agents restart; the exports equal the source disks', async () => {
    await stopSite(hq);
    await stopSite(dr);
    const entry = oracle[0];
    assert.ok(entry);
    await checkOracle(entry);
    await startSite(dr);
    await startSite(hq);
    for (const site of [hq, dr]) {
      const state = await stateOf(site, vpg.vpgId);
      assert.equal(state.version, 2, `${site.name}: version`);
      assert.equal(state.name, 'app (renamed)');
      assert.equal(state.rpoTargetSeconds, 42);
      assert.equal(state.checkpointIntervalMs, 1000);
      assert.equal(state.journal.historySeconds, 1800);
      assert.equal(state.vmIds.length, 2);
    }
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting after the restarts');
  });

  it('removes a VM: its disks leave the tap and the recovery site; the last VM cannot go', async () => {
    const leaving = vm(0);
    const staying = vm(1);
    await setWorkload(hq, staying.vmId, MiB, { paused: false });
    await setWorkload(hq, leaving.vmId, MiB, { paused: false });
    const last = await errorOf(hq, 'vpg.removeVm', { vpgId: other.vpgId, vmId: vm(2).vmId });
    assert.equal(last.code, CONFLICT);
    assert.match(last.message, /last VM of VPG "other": remove the VPG instead/);
    const notIn = await errorOf(hq, 'vpg.removeVm', { vpgId: vpg.vpgId, vmId: vm(2).vmId });
    assert.equal(notIn.code, NOT_FOUND);

    const removed = VpgStateSchema.parse(
      await call(hq, 'vpg.removeVm', { vpgId: vpg.vpgId, vmId: leaving.vmId, version: 2 }),
    );
    assert.equal(removed.version, 3);
    assert.deepEqual(removed.vmIds, [staying.vmId]);
    assert.deepEqual(
      removed.disks.map((d) => d.diskId),
      staying.disks.map((d) => d.diskId),
    );
    assert.deepEqual((await stateOf(dr, vpg.vpgId)).vmIds, [staying.vmId]);
    // Its writes are no longer replicated: its workload is gone and refused.
    const refused = await errorOf(hq, 'vm.setWorkload', {
      vmId: leaving.vmId,
      bytesPerSecond: MiB,
    });
    assert.equal(refused.code, CONFLICT);
    for (const disk of leaving.disks) {
      const file = replicaFile(vpg.vpgId, disk.diskId);
      await until('replica of the removed disk deleted', async () => !(await exists(file)));
    }
    await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting without the VM');
    await sleep(1500);
    await checkpointPaused('after-removeVm', [staying.vmId]);
  });

  it('refuses changes while the recovery site is down; forceRemove goes on, the recovery site follows', async () => {
    await stopSite(dr);
    await untilLinked(hq, false);
    const down = await errorOf(hq, 'vpg.update', {
      vpgId: vpg.vpgId,
      version: 3,
      settings: { rpoTargetSeconds: 60 },
    });
    assert.equal(down.code, UNAVAILABLE);
    assert.match(down.message, /cannot be reached.*was not changed/);
    const downAdd = await errorOf(hq, 'vpg.addVm', { vpgId: vpg.vpgId, vmId: vm(0).vmId });
    assert.equal(downAdd.code, UNAVAILABLE);
    const state = await stateOf(hq, vpg.vpgId);
    assert.equal(state.version, 3);
    assert.equal(state.rpoTargetSeconds, 42);

    // The image after removeVm, from the stopped recovery agent: the remaining VM's disks.
    const entry = oracle[1];
    assert.ok(entry);
    await checkOracle(entry);
    const gone = vm(0).disks[0];
    assert.ok(gone);
    await assert.rejects(
      exportDiskInProcess(dr.creds.dataDir, vpg.vpgId, gone.diskId, entry.checkpoint.seq),
      /no disk|not in|unknown/i,
      'the removed disk is no longer in the journal',
    );

    assert.deepEqual(await call(hq, 'vpg.forceRemove', { vpgId: vpg.vpgId }), {
      removed: true,
      peerRemoved: false,
    });
    assert.equal(
      (await list(hq)).some((v) => v.vpgId === vpg.vpgId),
      false,
    );
    assert.equal(await exists(join(hq.creds.dataDir, 'outbox', vpg.vpgId)), false);
    const journalDir = join(dr.creds.dataDir, 'journal', vpg.vpgId);
    assert.equal(await exists(journalDir), true, 'the recovery site still has it');
    await startSite(dr);
    await until('journal deleted once the link is back', async () => !(await exists(journalDir)));
    assert.equal(
      await exists(join(dr.creds.dataDir, 'datastores', 'datastore1', 'replicas', vpg.vpgId)),
      false,
    );
    assert.equal(
      (await list(dr)).some((v) => v.vpgId === vpg.vpgId),
      false,
    );
  });

  it('force-removes at the recovery site: the protected site removes its part too', async () => {
    await untilLinked(hq, true);
    assert.deepEqual(await call(dr, 'vpg.forceRemove', { vpgId: other.vpgId }), {
      removed: true,
      peerRemoved: true,
    });
    assert.deepEqual(await list(dr), []);
    assert.deepEqual(await list(hq), []);
    assert.equal(await exists(join(hq.creds.dataDir, 'outbox', other.vpgId)), false);
    const unknown = await errorOf(hq, 'vpg.forceRemove', { vpgId: other.vpgId });
    assert.equal(unknown.code, NOT_FOUND);
  });
});
