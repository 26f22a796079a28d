/**
 * Live failover with the protected site reachable and `shutdownProtectedVms`: the recovery
 * site asks the protected agent to power its VMs off before it brings the copies up, so the
 * two never run at once. Rollback then leaves the recovery site as it was.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Vm } from '../../app/protocol';
import {
  insertCheckpoint,
  killSites,
  untilVpg,
  vms,
  waitForCheckpoint,
  type Site,
} from '../helpers/replication-sites';
import { failovers, launchLab, startTask, taskSucceeds, untilMetadata } from './failover-helpers';

describe('live failover that shuts the protected VMs down first', { timeout: 180_000 }, () => {
  let hq: Site;
  let dr: Site;
  let vpgId: string;
  let protectedVms: Vm[];

  before(async () => {
    ({ hq, dr, vpgId, protectedVms } = await launchLab({ vmCount: 2 }));
    await untilVpg(hq, vpgId, (s) => s.status === 'Protecting', 'Protecting', 60_000);
    await waitForCheckpoint(hq, await insertCheckpoint(hq, vpgId, 'before failover'));
    await untilMetadata(dr, vpgId);
  });

  after(() => killSites(hq, dr));

  it('powers the protected VMs off before the recovered ones come up', async () => {
    const ids = protectedVms.map((v) => v.vmId);
    const powerOf = async (site: Site, vmIds: readonly string[]) =>
      (await vms(site)).filter((v) => vmIds.includes(v.vmId)).map((v) => v.powerState);
    // At least one runs (the sim stops one VM per host): the shutdown has something to do.
    const initially = await powerOf(hq, ids);
    assert.equal(initially.length, ids.length);
    assert.ok(initially.includes('running'), `a protected VM runs: ${initially.join(', ')}`);
    const before = Date.now();
    await taskSucceeds(
      dr,
      await startTask(dr, 'failover.live', { vpgId, shutdownProtectedVms: true }),
    );
    assert.deepEqual(await powerOf(hq, ids), ['stopped', 'stopped'], 'protected VMs are off');

    const [status] = await failovers(dr, { vpgId });
    assert.equal(status?.phase, 'BeforeCommit');
    const recovered = (await vms(dr)).filter((v) => v.recoveredFrom?.vpgId === vpgId);
    assert.equal(recovered.length, 2);
    assert.ok(recovered.every((v) => v.powerState === 'running'));
    for (const vm of status?.vms ?? []) {
      assert.ok((vm.poweredOnAt ?? 0) >= before, `${vm.name} came up during this failover`);
    }

    await taskSucceeds(dr, await startTask(dr, 'failover.rollback', { vpgId }));
    assert.equal((await vms(dr)).filter((v) => v.recoveredFrom?.vpgId === vpgId).length, 0);
  });
});
