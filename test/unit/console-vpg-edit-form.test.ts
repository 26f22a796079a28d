import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VmView } from '../../app/protocol/console-api';
import { VpgEditSchema, planVpgEdit } from '../../app/vpg/vpg-edit';
import type { Vpg } from '../../app/vpg/vpg-schemas';
import {
  EMPTY_NIC,
  describeEdit,
  editFormOf,
  formToEdit,
  recoveryKey,
  type VpgEditForm,
} from '../../renderer/lib/vpg-edit-form';

/** The VPG edit dialog's form: from a VPG, back to an edit, errors in place, the diff. */

const GIB = 2 ** 30;
const vpg: Vpg = {
  vpgId: 'vpg-1',
  name: 'Orders',
  vmIds: ['vm-a'],
  protectedSiteId: 'hq',
  recoverySiteId: 'dr',
  recoveryHostId: 'host-1',
  recoveryDatastore: 'ds-1',
  journal: { historySeconds: 4 * 3600, hardLimitBytes: 20 * GIB, warningBytes: 15 * GIB },
  checkpointIntervalMs: 5000,
  rpoTargetSeconds: 30,
  recovery: {
    vms: [
      {
        vmId: 'vm-a',
        bootGroup: 0,
        bootDelaySeconds: 10,
        live: [{ nicName: 'eth0', network: 'prod', ip: { mode: 'dhcp' } }],
        test: [],
      },
    ],
  },
  disks: [],
  status: 'Protecting',
  createdAt: 0,
  version: 3,
};

const vm = (vmId: string, name: string): VmView =>
  ({
    vmId,
    name,
    siteId: 'hq',
    agentKey: 'k',
    hostId: 'h',
    nics: [{ name: 'eth0', mac: '52:54:00:00:00:01', network: 'prod-app' }],
    disks: [],
  }) as unknown as VmView;
const vms = [vm('vm-a', 'crm-01'), vm('vm-b', 'git-01')];

function withNic(form: VpgEditForm, vmId: string, nic: Partial<typeof EMPTY_NIC>): VpgEditForm {
  return {
    ...form,
    recovery: {
      ...form.recovery,
      [vmId]: {
        bootGroup: '1',
        bootDelaySeconds: '0',
        nics: { eth0: { live: EMPTY_NIC, test: { ...EMPTY_NIC, ...nic } } },
      },
    },
  };
}

describe('VPG edit form', () => {
  it('reads a VPG back as the same settings: an unchanged form plans nothing', () => {
    const form = editFormOf(vpg);
    assert.equal(form.base.warningUnit, 'percent');
    assert.equal(form.base.warning, '75');
    assert.equal(form.recovery['vm-a']?.nics.eth0?.live.ipMode, 'dhcp');
    const result = formToEdit(form, vms);
    assert.ok(result.ok, JSON.stringify(result));
    const plan = planVpgEdit(vpg, VpgEditSchema.parse(result.edit));
    assert.deepEqual(plan, { removeVmIds: [], addVmIds: [], patch: undefined });
  });

  it('puts a bad static address and prefix beside their fields', () => {
    const base = editFormOf(vpg);
    const form = withNic({ ...base, base: { ...base.base, vmIds: ['vm-a', 'vm-b'] } }, 'vm-b', {
      ipMode: 'static',
      address: '10.99.0.300',
      prefixLength: 'x',
    });
    const result = formToEdit(form, vms);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const at = { kind: 'test' as const, nicName: 'eth0' };
    assert.match(result.errors.recovery?.[recoveryKey('vm-b', 'address', at)] ?? '', /IPv4/);
    assert.match(result.errors.recovery?.[recoveryKey('vm-b', 'prefixLength', at)] ?? '', /prefix/);
  });

  it('fills the default test network and shows the change in words', () => {
    const base = editFormOf(vpg);
    const form = withNic(
      { ...base, base: { ...base.base, vmIds: ['vm-a', 'vm-b'], rpoTargetSeconds: '60' } },
      'vm-b',
      {
        ipMode: 'static',
        address: '10.99.0.20',
        gateway: '10.99.0.1',
        dns: '10.99.0.2, 10.99.0.3',
      },
    );
    const result = formToEdit(form, vms);
    assert.ok(result.ok, JSON.stringify(result));
    const entry = result.edit.recovery?.vms?.find((v) => v.vmId === 'vm-b');
    assert.equal(entry?.test?.[0]?.network, 'prod-app-test');
    const plan = planVpgEdit(vpg, VpgEditSchema.parse(result.edit));
    const names = (id: string) => vms.find((v) => v.vmId === id)?.name ?? id;
    assert.deepEqual(describeEdit(vpg, plan, names), [
      { what: 'VM git-01', before: 'Not in the VPG', after: 'Added' },
      { what: 'RPO target', before: '30 s', after: '1 min' },
      { what: 'git-01: boot', before: 'Group 0', after: 'Group 1' },
      {
        what: 'git-01: test network',
        before: 'Default',
        after: 'eth0 → prod-app-test, 10.99.0.20/24 via 10.99.0.1, DNS 10.99.0.2, 10.99.0.3',
      },
    ]);
  });

  it('refuses a VPG left without VMs on the VMs field', () => {
    const base = editFormOf(vpg);
    const result = formToEdit({ ...base, base: { ...base.base, vmIds: [] } }, vms);
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(result.errors.vmIds);
  });
});
