import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VpgEditSchema, emptyPlan, planVpgEdit } from '../../app/vpg/vpg-edit';
import type { Vpg } from '../../app/vpg/vpg-schemas';

/** planVpgEdit: what an edit changes, the plan the console runs and the dialog shows. */

const GIB = 2 ** 30;
const vpg: Vpg = {
  vpgId: 'vpg-1',
  name: 'Web tier',
  vmIds: ['vm-a', 'vm-b'],
  protectedSiteId: 'hq',
  recoverySiteId: 'dr',
  recoveryHostId: 'host-1',
  recoveryDatastore: 'ds-1',
  journal: { historySeconds: 3600, hardLimitBytes: 4 * GIB, warningBytes: 3 * GIB },
  checkpointIntervalMs: 5000,
  rpoTargetSeconds: 30,
  recovery: {
    vms: [{ vmId: 'vm-b', bootGroup: 2, bootDelaySeconds: 10, live: [], test: [] }],
  },
  disks: [],
  status: 'Protecting',
  createdAt: 0,
  version: 4,
};

const plan = (edit: unknown) => planVpgEdit(vpg, VpgEditSchema.parse(edit));

describe('planVpgEdit', () => {
  it('finds nothing to do when the edit restates the VPG', () => {
    const same = plan({
      vmIds: ['vm-a', 'vm-b'],
      name: ' Web tier ',
      journal: vpg.journal,
      checkpointIntervalMs: 5000,
      rpoTargetSeconds: 30,
      // Default entries count as none; order follows the VMs.
      recovery: {
        vms: [{ vmId: 'vm-a' }, { vmId: 'vm-b', bootGroup: 2, bootDelaySeconds: 10 }],
      },
    });
    assert.ok(emptyPlan(same), JSON.stringify(same));
  });

  it('lists the VMs that leave and join, and only the settings that differ', () => {
    const p = plan({
      vmIds: ['vm-b', 'vm-c'],
      rpoTargetSeconds: 60,
      journal: { ...vpg.journal, historySeconds: 7200 },
    });
    assert.deepEqual(p.removeVmIds, ['vm-a']);
    assert.deepEqual(p.addVmIds, ['vm-c']);
    assert.deepEqual(p.patch, {
      rpoTargetSeconds: 60,
      journal: { ...vpg.journal, historySeconds: 7200 },
    });
  });

  it('drops the recovery entry of a VM that leaves, keeping the others', () => {
    assert.deepEqual(plan({ vmIds: ['vm-a'] }).patch, { recovery: { vms: [] } });
    assert.equal(plan({ vmIds: ['vm-b'] }).patch, undefined);
  });

  it('carries a new NIC mapping, with its defaults filled', () => {
    const p = plan({
      recovery: {
        vms: [
          { vmId: 'vm-b', bootGroup: 2, bootDelaySeconds: 10 },
          {
            vmId: 'vm-a',
            test: [
              {
                nicName: 'eth0',
                network: 'lab',
                ip: { mode: 'static', address: '10.0.0.5', prefixLength: 24 },
              },
            ],
          },
        ],
      },
    });
    assert.deepEqual(
      p.patch?.recovery?.vms.map((v) => v.vmId),
      ['vm-a', 'vm-b'],
    );
    assert.deepEqual(p.patch?.recovery?.vms[0]?.test[0]?.ip, {
      mode: 'static',
      address: '10.0.0.5',
      prefixLength: 24,
      dns: [],
    });
  });

  it('refuses an edit that leaves no VM', () => {
    assert.equal(VpgEditSchema.safeParse({ vmIds: [] }).success, false);
  });
});
