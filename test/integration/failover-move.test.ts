/**
 * Acceptance (issue 6): planned move, reverse protection and failback, with two real agents.
 * - Move under a running workload: the protected VMs go off, the rest is sent, a move
 *   checkpoint is inserted and the VPG recovers at it: the recovered disks are byte-identical
 *   to the source disks after their shutdown.
 * - Commit with reverse protection: the original site retires its VPG, the recovered VMs are
 *   protected back with the original disks as pre-seeded replicas: the delta sync sends far
 *   less than the disks' size; new writes then reach the original site (oracle there).
 * - A second move, run at the original site, fails back: its disks equal the recovered ones.
 */
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes } from '../../app/errors';
import { TaskSchema, VpgSettingsSchema, type Vm } from '../../app/protocol';
import { makeTempDir } from '../helpers/agents';
import { requireTools } from '../helpers/nbd-tools';
import { Oracle } from '../helpers/replication-oracle';
import {
  call,
  errorOf,
  setWorkload,
  sha256File,
  sleep,
  killSites,
  untilVpg,
  vms,
  vpgState,
  type Site,
} from '../helpers/replication-sites';
import {
  exportHash,
  failovers,
  launchLab,
  startTask,
  taskSucceeds,
  untilMetadata,
} from './failover-helpers';

const RATE = 256 * 1024;

/** A file of zeros of `size` bytes (the hash of a disk nothing wrote to). */
async function zeroFile(size: number): Promise<string> {
  const path = join(await makeTempDir('tideline-zero-'), 'zero.raw');
  await truncate(path, size).catch(async () => {
    await writeFile(path, '');
    await truncate(path, size);
  });
  return path;
}

describe('planned move, reverse protection and failback', { timeout: 420_000 }, () => {
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let protectedVms: Vm[];
  /** sha256 of every source disk (by its diskId at hq) after the move's shutdown. */
  const shutdownHashes = new Map<string, string>();
  let reverseVpgId: string;

  before(async () => {
    requireTools(['nbdcopy']);
    ({ hq, dr, vpgId, protectedVms } = await launchLab({ vmCount: 2 }));
    await untilVpg(dr, vpgId, (s) => s.status === 'Protecting', 'protecting at DR');
    await untilMetadata(dr, vpgId);
  });

  after(() => killSites(hq, dr));

  const recoveredOf = async (site: Site, fromVpgId: string): Promise<Vm[]> =>
    (await vms(site)).filter((v) => v.recoveredFrom?.vpgId === fromVpgId);

  it('moves: the recovered disks equal the source disks after their shutdown', async () => {
    for (const vm of protectedVms) await setWorkload(hq, vm.vmId, RATE);
    await sleep(3000);
    const taskId = await startTask(dr, 'failover.move', { vpgId, reverseProtection: true });
    const task = await taskSucceeds(dr, taskId, 120_000);
    assert.equal(task.type, 'FailoverMove');
    assert.deepEqual(task.steps.map((s) => s.name).slice(0, 2), [
      'Shut down the protected VMs',
      'Send the rest and insert the move checkpoint',
    ]);

    // The source side: VMs off, VPG marked as moved away.
    for (const vm of (await vms(hq)).filter((v) => protectedVms.some((p) => p.vmId === v.vmId))) {
      assert.equal(vm.powerState, 'stopped', `${vm.name} is off at the protected site`);
    }
    assert.equal((await vpgState(hq, vpgId)).status, 'FailingOver');
    for (const vm of protectedVms) {
      for (const disk of vm.disks) shutdownHashes.set(disk.diskId, await sha256File(disk.location));
    }
    const empty = await sha256File(await zeroFile(protectedVms[0]?.disks[0]?.sizeBytes ?? 0));
    for (const hash of shutdownHashes.values()) assert.notEqual(hash, empty, 'the VMs wrote');

    const [status] = await failovers(dr, { vpgId });
    assert.equal(status?.mode, 'move');
    assert.equal(status?.phase, 'BeforeCommit');
    assert.match(status?.checkpoint.name ?? '', /^Move \d{4}-\d\d-\d\d/);
    const recovered = await recoveredOf(dr, vpgId);
    assert.equal(recovered.length, protectedVms.length);
    for (const vm of recovered) {
      const source = protectedVms.find((v) => v.vmId === vm.recoveredFrom?.sourceVmId);
      assert.ok(source);
      for (const [i, disk] of vm.disks.entries()) {
        const sourceDisk: string = source.disks[i]?.diskId ?? '';
        assert.equal(
          await exportHash(disk.location),
          shutdownHashes.get(sourceDisk),
          `recovered ${disk.diskId} = source ${sourceDisk} after shutdown`,
        );
      }
    }
  });

  it('commits with reverse protection: a delta sync from the original disks', async (t) => {
    const settings = VpgSettingsSchema.parse(await call(dr, 'vpg.settingsForReverse', { vpgId }));
    assert.equal(settings.recoverySiteId, hq.siteId);
    assert.match(settings.name, /\(reverse\)$/);
    const sourcePaths = protectedVms.flatMap((v) => v.disks.map((d) => d.location)).sort();
    assert.deepEqual(settings.preseededReplicas?.map((r) => r.path).sort(), sourcePaths);

    const commitId = await startTask(dr, 'failover.commit', { vpgId, reverseProtection: true });
    const commit = await taskSucceeds(dr, commitId);
    const promote = await taskSucceeds(dr, String(commit.result?.['promoteTaskId']), 120_000);
    reverseVpgId = String(promote.result?.['reverseVpgId']);
    const [committed] = await failovers(dr, { vpgId, includeEnded: true });
    assert.equal(committed?.phase, 'Committed', committed?.message);

    const reverse = await untilVpg(
      dr,
      reverseVpgId,
      (s) => s.status === 'Protecting',
      'reverse protection protecting',
      90_000,
    );
    assert.equal(reverse.recoverySiteId, hq.siteId);
    // The original VPG is gone from both sites (retired at hq, journal dropped at dr).
    assert.equal((await errorOf(hq, 'vpg.state', { vpgId })).code, ErrorCodes.NOT_FOUND);
    assert.equal((await errorOf(dr, 'vpg.state', { vpgId })).code, ErrorCodes.NOT_FOUND);

    // The initial sync compared hashes and sent (almost) nothing: the disks were equal.
    const tasks = TaskSchema.array().parse(
      await call(dr, 'task.list', { vpgId: reverseVpgId, type: 'InitialSync' }),
    );
    const sync = tasks.find((t) => t.completionCode === 'Success');
    assert.ok(sync, `an initial sync succeeded: ${JSON.stringify(tasks)}`);
    const total = reverse.disks.reduce((sum, d) => sum + d.sizeBytes, 0);
    const sent = Number(sync.result?.['dataBytes']);
    const scanned = Number(sync.result?.['scannedBytes']);
    assert.ok(scanned >= total, `compared ${scanned} of ${total} bytes`);
    assert.ok(sent < total / 20, `sent ${sent} bytes of ${total}`);
    t.diagnostic(`reverse delta sync: sent ${sent} of ${total} bytes, compared ${scanned}`);

    // The recovered VMs now run on their promoted replica files (a restart keeps them).
    const recovered = await recoveredOf(dr, vpgId);
    assert.equal(recovered.length, protectedVms.length);
    for (const vm of recovered) {
      assert.equal(vm.powerState, 'running');
      for (const disk of vm.disks) assert.ok(disk.location.startsWith('/'), disk.location);
    }
  });

  it('replicates new writes back: the oracle holds at the original site', async () => {
    const recovered = await recoveredOf(dr, vpgId);
    const oracle = new Oracle(dr, hq, reverseVpgId, recovered);
    await oracle.setWorkloads(false, RATE);
    await sleep(3000);
    const checkpoint = await oracle.checkpoint('after reverse');
    const hashes = oracle.checkpoints.at(-1)?.hashes;
    assert.ok(hashes);
    const dir = await makeTempDir('tideline-reverse-export-');
    for (const [diskId, hash] of hashes) {
      const path = join(dir, `${diskId}.raw`);
      const exportId = await startTask(hq, 'checkpoint.exportDisk', {
        vpgId: reverseVpgId,
        diskId,
        checkpointSeq: checkpoint.seq,
        path,
      });
      await taskSucceeds(hq, exportId);
      assert.equal(await sha256File(path), hash, `disk ${diskId} at the original site`);
    }
  });

  it('fails back with a second move run at the original site', async () => {
    const taskId = await startTask(hq, 'failover.move', {
      vpgId: reverseVpgId,
      reverseProtection: false,
    });
    await taskSucceeds(hq, taskId, 120_000);
    const atDr = await recoveredOf(dr, vpgId);
    const wanted = new Map<string, string>();
    for (const vm of atDr) {
      assert.equal(vm.powerState, 'stopped', `${vm.name} is off at the recovery site`);
      for (const disk of vm.disks) wanted.set(disk.diskId, await sha256File(disk.location));
    }
    for (const [diskId, hash] of wanted) {
      const before = [...shutdownHashes.values()];
      assert.ok(!before.includes(hash), `disk ${diskId} changed after the first move`);
    }
    const back = await recoveredOf(hq, reverseVpgId);
    assert.equal(back.length, atDr.length);
    for (const vm of back) {
      assert.equal(vm.powerState, 'running');
      const from = atDr.find((v) => v.vmId === vm.recoveredFrom?.sourceVmId);
      assert.ok(from, `${vm.name} comes from a recovered VM`);
      for (const [i, disk] of vm.disks.entries()) {
        assert.equal(await exportHash(disk.location), wanted.get(from.disks[i]?.diskId ?? ''));
      }
    }
    const commitId = await startTask(hq, 'failover.commit', { vpgId: reverseVpgId });
    const commit = await taskSucceeds(hq, commitId);
    await taskSucceeds(hq, String(commit.result?.['promoteTaskId']), 120_000);
    await untilVpg(hq, reverseVpgId, (s) => s.status === 'NeedReverseConfiguration', 'home');
  });
});
