/**
 * Acceptance (issue 6): live failover with the protected site's agent killed (kill -9). The
 * recovery site alone brings the VPG up at the latest checkpoint: the recovered disks pass the
 * oracle, the VMs power on by boot group with their delays (from the recorded power-on times),
 * networks that exist are reused and a missing one is created once. Then commit promotes.
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Vm } from '../../app/protocol';
import { SimInventorySchema } from '../../agent/hypervisor/sim/generator';
import { requireTools } from '../helpers/nbd-tools';
import { Oracle } from '../helpers/replication-oracle';
import {
  killSites,
  stopSite,
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
  startTask,
  taskSucceeds,
  untilMetadata,
} from './failover-helpers';

const DELAY_SECONDS = 2;
const NEW_NETWORK = 'dr-isolated-new';

describe('live failover with the protected site down', { timeout: 240_000 }, () => {
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let protectedVms: Vm[];
  let oracle: Oracle;

  before(async () => {
    requireTools(['nbdcopy']);
    const lab = await launchLab({
      vmCount: 2,
      recovery: ([first, second]) => [
        // The first VM boots alone, then its delay; the second after it, one NIC remapped.
        { vmId: first?.vmId ?? '', bootGroup: 0, bootDelaySeconds: DELAY_SECONDS },
        {
          vmId: second?.vmId ?? '',
          bootGroup: 1,
          live: [{ nicName: second?.nics[0]?.name ?? 'eth0', network: NEW_NETWORK }],
        },
      ],
    });
    ({ hq, dr, vpgId, protectedVms } = lab);
    oracle = new Oracle(hq, dr, vpgId, protectedVms);
    await untilVpg(dr, vpgId, (s) => s.status === 'Protecting' && s.version >= 1, 'settings at DR');
    await untilMetadata(dr, vpgId, 1);
  });

  after(() => killSites(hq, dr));

  it('recovers at the latest checkpoint in boot order, reusing networks', async () => {
    const networksBefore = await networks(dr);
    await oracle.setWorkloads(false, 256 * 1024);
    await new Promise((r) => setTimeout(r, 3000));
    const last = await oracle.checkpoint('last-before-crash', { resume: false });
    // The protected site dies (its disks stay as at `last`: the workloads were paused).
    await stopSite(hq, 'SIGKILL');

    const started = Date.now();
    const taskId = await startTask(dr, 'failover.live', {
      vpgId,
      checkpoint: { kind: 'latest' },
      shutdownProtectedVms: true,
    });
    const task = await taskSucceeds(dr, taskId);
    assert.equal(task.type, 'FailoverLive');
    const [status] = await failovers(dr, { vpgId });
    assert.ok(status);
    assert.equal(status.phase, 'BeforeCommit');
    assert.ok(status.checkpoint.seq >= last.seq, 'the latest checkpoint');
    assert.equal((await vpgState(dr, vpgId)).status, 'FailingOver');

    // Disks: the oracle at the last checkpoint (no write after it, so also at any later one).
    const hashes = oracle.checkpoints.at(-1)?.hashes;
    assert.ok(hashes);
    const recovered = (await vms(dr)).filter(
      (v) => v.recoveredFrom?.failoverId === status.failoverId,
    );
    assert.equal(recovered.length, 2);
    for (const vm of recovered) {
      const source = protectedVms.find((v) => v.vmId === vm.recoveredFrom?.sourceVmId) as Vm;
      for (const [i, disk] of vm.disks.entries()) {
        assert.equal(await exportHash(disk.location), hashes.get(source.disks[i]?.diskId ?? ''));
      }
    }

    // Boot order and delay: from the times the hypervisor recorded.
    const inventory = SimInventorySchema.parse(
      JSON.parse(await readFile(join(dr.creds.dataDir, 'state', 'inventory.json'), 'utf8')),
    );
    const onAt = (sourceVmId: string | undefined): number => {
      const vm = recovered.find((v) => v.recoveredFrom?.sourceVmId === sourceVmId);
      const event = inventory.powerLog?.find((e) => e.vmId === vm?.vmId && e.state === 'running');
      assert.ok(event, `power-on of ${sourceVmId} recorded`);
      return event.at;
    };
    const first = onAt(protectedVms[0]?.vmId);
    const second = onAt(protectedVms[1]?.vmId);
    assert.ok(first >= started);
    assert.ok(
      second - first >= DELAY_SECONDS * 1000,
      `group 1 powered on ${second - first} ms after group 0 (delay ${DELAY_SECONDS} s)`,
    );
    for (const vm of status.vms) assert.ok(vm.poweredOnAt !== undefined, `${vm.name} on`);
    assert.equal(
      status.vms.find((v) => v.sourceVmId === protectedVms[0]?.vmId)?.poweredOnAt,
      first,
    );

    // Networks: those that existed reused (no duplicate), the missing one created once.
    const after = await networks(dr);
    const names = after.map((n) => n.name);
    assert.equal(new Set(names).size, names.length, 'no network twice');
    assert.deepEqual(
      after.filter((n) => n.name !== NEW_NETWORK),
      networksBefore,
      'existing networks as they were',
    );
    assert.deepEqual(
      status.networks.filter((n) => n.created),
      [{ name: NEW_NETWORK, created: true }],
    );
    for (const used of status.networks.filter((n) => !n.created)) {
      assert.ok(
        networksBefore.some((n) => n.name === used.name),
        `${used.name} existed`,
      );
    }
    const second0 = recovered.find((v) => v.recoveredFrom?.sourceVmId === protectedVms[1]?.vmId);
    assert.equal(second0?.nics[0]?.network, NEW_NETWORK);
    assert.equal(second0?.nics[0]?.ipAddress, protectedVms[1]?.nics[0]?.ipAddress, 'IP kept');

    // Commit: promotion writes the journal and the VMs' writes into the replicas.
    const setDir = join(dr.creds.dataDir, 'recovery', status.failoverId);
    await access(join(setDir, 'set.json'));
    const commitId = await startTask(dr, 'failover.commit', { vpgId });
    const commit = await taskSucceeds(dr, commitId);
    const promoteTaskId = String(commit.result?.['promoteTaskId']);
    await taskSucceeds(dr, promoteTaskId, 120_000);
    const [committed] = await failovers(dr, { vpgId, includeEnded: true });
    assert.equal(committed?.phase, 'Committed');
    // The VMs run on the replica files: the recovery set's folder is gone.
    await assert.rejects(access(setDir), { code: 'ENOENT' });
    await untilVpg(dr, vpgId, (s) => s.status === 'NeedReverseConfiguration', 'committed');
  });
});
