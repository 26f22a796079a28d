/**
 * Acceptance (issue 6): a test failover under a running workload. The recovered disks, read
 * through their NBD exports, equal the source disks as of the chosen checkpoint (the
 * replication oracle); RPO stays under its target while the test runs (protection goes on);
 * after stopTest nothing of the test remains: no scratch files, no test VMs, no test networks;
 * the checkpoint says it was tested.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CheckpointInfoSchema, VmSchema, type Vm } from '../../app/protocol';
import { requireTools } from '../helpers/nbd-tools';
import { Oracle } from '../helpers/replication-oracle';
import {
  call,
  errorOf,
  recordTicks,
  killSites,
  untilVpg,
  vpgState,
  vms,
  type Site,
} from '../helpers/replication-sites';
import {
  exportHash,
  failovers,
  launchLab,
  networks,
  recoveryFiles,
  startTask,
  taskSucceeds,
  untilMetadata,
} from './failover-helpers';

const RPO_TARGET = 15;

describe('test failover under a running workload', { timeout: 240_000 }, () => {
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let oracle: Oracle;
  let protectedVms: Vm[];

  before(async () => {
    requireTools(['nbdcopy']);
    const lab = await launchLab({ vmCount: 2, rpoTargetSeconds: RPO_TARGET });
    ({ hq, dr, vpgId, protectedVms } = lab);
    oracle = new Oracle(hq, dr, vpgId, protectedVms);
    await untilVpg(dr, vpgId, (s) => s.status === 'Protecting', 'protecting at the recovery site');
    await untilMetadata(dr, vpgId);
  });

  after(() => killSites(hq, dr));

  it('recovers at the checkpoint, keeps protecting, and leaves no trace after stopTest', async () => {
    const vmsBefore = await vms(dr);
    const networksBefore = await networks(dr);
    await oracle.setWorkloads(false, 256 * 1024);
    await new Promise((r) => setTimeout(r, 2000));
    const c1 = await oracle.checkpoint('before-test');
    await new Promise((r) => setTimeout(r, 2000));

    const ticks = recordTicks(hq, vpgId);
    const taskId = await startTask(dr, 'failover.test', {
      vpgId,
      checkpoint: { kind: 'seq', seq: c1.seq },
    });
    const conflict = await errorOf(dr, 'failover.test', { vpgId });
    assert.match(conflict.message, /already has a test failover|is starting/);
    const task = await taskSucceeds(dr, taskId);
    assert.equal(task.type, 'FailoverTest');
    assert.ok(
      task.steps.every((s) => s.status === 'Done'),
      JSON.stringify(task.steps),
    );

    const [status] = await failovers(dr, { vpgId });
    assert.ok(status);
    assert.equal(status.phase, 'Testing');
    assert.equal(status.checkpoint.seq, c1.seq);
    assert.equal((await vpgState(dr, vpgId)).status, 'TestFailover');

    // The test VMs: on isolated <network>-test networks, running, on their NBD exports.
    const recovered = (await vms(dr)).filter(
      (v) => v.recoveredFrom?.failoverId === status.failoverId,
    );
    assert.equal(recovered.length, protectedVms.length);
    const testNetworks = await networks(dr);
    for (const vm of recovered) {
      assert.equal(vm.powerState, 'running');
      const source = protectedVms.find((v) => v.vmId === vm.recoveredFrom?.sourceVmId) as Vm;
      assert.equal(vm.name, source.name);
      for (const nic of vm.nics) {
        assert.match(nic.network, /-test$/);
        assert.equal(testNetworks.find((n) => n.name === nic.network)?.isolated, true);
      }
    }
    const created = status.networks.filter((n) => n.created).map((n) => n.name);
    assert.equal(new Set(created).size, created.length, 'each test network created once');

    // The oracle: every recovered disk equals its source disk as of the checkpoint.
    const checked = oracle.checkpoints.find((c) => c.checkpoint.seq === c1.seq);
    assert.ok(checked);
    for (const vm of recovered) {
      const source = protectedVms.find((v) => v.vmId === vm.recoveredFrom?.sourceVmId) as Vm;
      for (const [i, disk] of vm.disks.entries()) {
        assert.match(disk.location, /^nbd\+unix:\/\//);
        const sourceDisk = source.disks[i];
        assert.ok(sourceDisk);
        assert.equal(
          await exportHash(disk.location),
          checked.hashes.get(sourceDisk.diskId),
          `recovered ${disk.diskId} equals ${sourceDisk.diskId} at checkpoint ${c1.seq}`,
        );
      }
    }

    // Protection goes on: new checkpoints reach the recovery site during the test.
    const during = await oracle.checkpoint('during-test');
    assert.ok(during.seq > c1.seq);
    await new Promise((r) => setTimeout(r, 3000));

    const stopId = await startTask(dr, 'failover.stopTest', { vpgId, note: 'smoke test' });
    const stopTask = await taskSucceeds(dr, stopId);
    assert.equal(stopTask.type, 'StopFailoverTest');
    await ticks.stop();
    const rpos = ticks.ticks.flatMap((t) => (t.rpoSeconds === undefined ? [] : [t.rpoSeconds]));
    assert.ok(rpos.length >= 5, `${rpos.length} RPO ticks during the test`);
    assert.ok(
      Math.max(...rpos) < RPO_TARGET,
      `RPO stayed under ${RPO_TARGET} s during the test: max ${Math.max(...rpos)}`,
    );

    // Nothing remains.
    const vmsAfter = VmSchema.array().parse(await call(dr, 'vm.list'));
    assert.deepEqual(
      vmsAfter.map((v) => v.vmId).sort(),
      vmsBefore.map((v) => v.vmId).sort(),
      'no test VM left',
    );
    assert.deepEqual(await networks(dr), networksBefore, 'no test network left');
    assert.deepEqual(await recoveryFiles(dr.creds.dataDir), [], 'no scratch file left');
    const [ended] = await failovers(dr, { vpgId, includeEnded: true });
    assert.equal(ended?.phase, 'Stopped');
    assert.deepEqual(await failovers(dr, { vpgId }), []);
    await untilVpg(
      dr,
      vpgId,
      (s) => s.status === 'Protecting' || s.status === 'RpoNotMet',
      'protecting again',
    );

    // The checkpoint says it was tested.
    const listed = CheckpointInfoSchema.array().parse(await call(dr, 'checkpoint.list', { vpgId }));
    const tested = listed.find((c) => c.seq === c1.seq)?.tested;
    assert.ok(tested, 'checkpoint.list shows the test');
    assert.equal(tested.result, 'Passed');
    assert.equal(tested.note, 'smoke test');
    assert.equal(listed.find((c) => c.seq === during.seq)?.tested, undefined);

    // The recovery site says when the VPG was last tested (the Recovery page's reminder).
    const testedAt = (await vpgState(dr, vpgId)).lastTestedAt;
    assert.ok(testedAt !== undefined && Math.abs(testedAt - tested.at) < 1000, `${testedAt}`);

    // The test's record can be discarded; the checkpoint keeps its mark.
    const discard = (await call(dr, 'failover.discardTests', { vpgId, count: 5 })) as {
      discarded: string[];
      kept: number;
    };
    assert.deepEqual(discard, { discarded: [ended.failoverId], kept: 0 });
    assert.deepEqual(await failovers(dr, { vpgId, includeEnded: true }), []);
    const still = CheckpointInfoSchema.array().parse(await call(dr, 'checkpoint.list', { vpgId }));
    assert.equal(still.find((c) => c.seq === c1.seq)?.tested?.result, 'Passed');

    // Partial recovery: a test of one VM alone brings up only that VM, at its checkpoint.
    const unknown = await errorOf(dr, 'failover.test', { vpgId, vmIds: ['no-such-vm'] });
    assert.match(unknown.message, /does not protect VM no-such-vm/);
    const alone = protectedVms[1] as Vm;
    const c2 = await oracle.checkpoint('before-partial-test');
    const partialId = await startTask(dr, 'failover.test', {
      vpgId,
      checkpoint: { kind: 'seq', seq: c2.seq },
      vmIds: [alone.vmId],
    });
    await taskSucceeds(dr, partialId);
    const [partial] = await failovers(dr, { vpgId });
    assert.deepEqual(
      partial?.vms.map((v) => v.sourceVmId),
      [alone.vmId],
      'the failover lists the chosen VM only',
    );
    const up = (await vms(dr)).filter((v) => v.recoveredFrom?.failoverId === partial?.failoverId);
    assert.deepEqual(
      up.map((v) => v.recoveredFrom?.sourceVmId),
      [alone.vmId],
      'only the chosen VM is up',
    );
    const atC2 = oracle.checkpoints.find((c) => c.checkpoint.seq === c2.seq);
    for (const [i, disk] of (up[0] as Vm).disks.entries()) {
      const sourceDisk = alone.disks[i] as Vm['disks'][number];
      assert.equal(
        await exportHash(disk.location),
        atC2?.hashes.get(sourceDisk.diskId),
        `recovered ${disk.diskId} equals ${sourceDisk.diskId} at checkpoint ${c2.seq}`,
      );
    }
    await taskSucceeds(dr, await startTask(dr, 'failover.stopTest', { vpgId }));
    assert.deepEqual(
      (await vms(dr)).map((v) => v.vmId).sort(),
      vmsBefore.map((v) => v.vmId).sort(),
      'no test VM left',
    );

    // The oracle holds for what protection sent meanwhile and after.
    await oracle.checkpoint('after-test', { resume: false });
    await oracle.verify();
  });
});
