import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTidelineError } from '../../app/errors';
import {
  VpgRecoverySettingsSchema,
  type CheckpointInfo,
  type MetadataPackage,
  type Vm,
} from '../../app/protocol';
import { bootGroups, chooseCheckpoint, planFailover } from '../../agent/recovery/failover-plan';

const cp = (seq: number, patch: Partial<CheckpointInfo> = {}): CheckpointInfo => ({
  vpgId: 'vpg-1',
  seq,
  sourceTime: seq * 1000,
  confirmed: true,
  ...patch,
});

const CHECKPOINTS = [
  cp(10, { inconsistent: true }),
  cp(20, { name: 'before patch' }),
  cp(30),
  cp(40, { name: 'not yet here', confirmed: false }),
];

function vm(vmId: string, nics: Vm['nics']): Vm {
  return {
    vmId,
    name: vmId,
    hostId: 'h1',
    powerState: 'running',
    cpus: 2,
    memoryMiB: 2048,
    guestOs: 'Debian 12',
    nics,
    disks: [],
  };
}

const METADATA: MetadataPackage = {
  schemaVersion: 1,
  vpgId: 'vpg-1',
  version: 3,
  capturedAt: 1,
  protectedSiteId: 'hq',
  vpgVersion: 2,
  vms: [
    vm('web', [
      { name: 'eth0', mac: '52:54:00:00:00:01', network: 'prod-web', ipAddress: '10.1.10.5' },
      { name: 'eth1', mac: '52:54:00:00:00:02', network: 'mgmt', ipAddress: '10.1.99.5' },
    ]),
    vm('db', [
      { name: 'eth0', mac: '52:54:00:00:00:03', network: 'prod-db', ipAddress: '10.1.30.7' },
      { name: 'eth1', mac: '52:54:00:00:00:04', network: 'mgmt', ipAddress: '10.1.99.7' },
    ]),
  ],
  networks: [
    { name: 'prod-web', isolated: false, subnet: '10.1.10.0/24' },
    { name: 'prod-db', isolated: false, subnet: '10.1.30.0/24' },
    { name: 'mgmt', isolated: false, subnet: '10.1.99.0/24' },
  ],
  hosts: [{ hostId: 'h1', name: 'hq-hv01' }],
};

const RECOVERY = VpgRecoverySettingsSchema.parse({
  vms: [
    { vmId: 'db', bootGroup: 0, bootDelaySeconds: 30 },
    {
      vmId: 'web',
      bootGroup: 1,
      live: [
        {
          nicName: 'eth0',
          network: 'dr-web',
          ip: { mode: 'static', address: '10.2.10.5', prefixLength: 24, gateway: '10.2.10.1' },
        },
      ],
      test: [{ nicName: 'eth0', network: 'bubble', ip: { mode: 'dhcp' } }],
    },
  ],
});

describe('failover plan', () => {
  it('chooses only consistent checkpoints persisted here', () => {
    assert.equal(chooseCheckpoint(CHECKPOINTS, { kind: 'latest' }, 'V').seq, 30);
    assert.equal(chooseCheckpoint(CHECKPOINTS, { kind: 'latestNamed' }, 'V').seq, 20);
    assert.equal(chooseCheckpoint(CHECKPOINTS, { kind: 'seq', seq: 20 }, 'V').seq, 20);
    assert.throws(
      () => chooseCheckpoint(CHECKPOINTS, { kind: 'seq', seq: 10 }, 'V'),
      (e: unknown) =>
        isTidelineError(e) && e.code === 'CONFLICT' && /not consistent/.test(e.message),
    );
    assert.throws(
      () => chooseCheckpoint(CHECKPOINTS, { kind: 'seq', seq: 99 }, 'V'),
      (e: unknown) =>
        isTidelineError(e) && e.code === 'NOT_FOUND' && /checkpoint 99/.test(e.message),
    );
    assert.throws(
      () => chooseCheckpoint([cp(5, { inconsistent: true })], { kind: 'latest' }, 'V'),
      (e: unknown) =>
        isTidelineError(e) && /has no consistent checkpoint yet at this site/.test(e.message),
    );
  });

  it('live: mapped NICs take their network and address, others keep theirs; networks once each', () => {
    const plan = planFailover({
      vmIds: ['web', 'db'],
      metadata: METADATA,
      recovery: RECOVERY,
      test: false,
      vpgName: 'V',
    });
    const web = plan.vms.find((v) => v.source.vmId === 'web');
    assert.deepEqual(
      web?.nics.map((n) => [n.nic.name, n.nic.network, n.nic.ipAddress]),
      [
        ['eth0', 'dr-web', '10.2.10.5'],
        ['eth1', 'mgmt', '10.1.99.5'],
      ],
    );
    assert.deepEqual(
      plan.networks.map((n) => [n.name, n.isolated, n.subnet]),
      [
        ['dr-web', false, undefined], // a mapped network: its subnet is the recovery site's
        ['mgmt', false, '10.1.99.0/24'],
        ['prod-db', false, '10.1.30.0/24'],
      ],
      'mgmt is shared by both VMs and listed once',
    );
  });

  it('test: unmapped NICs go to isolated <network>-test networks, DHCP drops the address', () => {
    const plan = planFailover({
      vmIds: ['web', 'db'],
      metadata: METADATA,
      recovery: RECOVERY,
      test: true,
      vpgName: 'V',
    });
    assert.ok(plan.networks.every((n) => n.isolated));
    assert.deepEqual(plan.networks.map((n) => n.name).sort(), [
      'bubble',
      'mgmt-test',
      'prod-db-test',
    ]);
    const web = plan.vms.find((v) => v.source.vmId === 'web');
    assert.equal(web?.nics[0]?.nic.ipAddress, undefined, 'dhcp');
    assert.equal(web?.nics[1]?.nic.ipAddress, '10.1.99.5', 'kept');
  });

  it('refuses a VM the metadata package does not describe', () => {
    assert.throws(
      () =>
        planFailover({
          vmIds: ['web', 'ghost'],
          metadata: METADATA,
          recovery: undefined,
          test: false,
          vpgName: 'V',
        }),
      (e: unknown) => isTidelineError(e) && /does not describe VM ghost/.test(e.message),
    );
  });

  it('boot groups ascend; a group waits for its longest delay', () => {
    const plan = planFailover({
      vmIds: ['web', 'db'],
      metadata: METADATA,
      recovery: RECOVERY,
      test: false,
      vpgName: 'V',
    });
    const groups = bootGroups(plan.vms, (v) => v.bootDelaySeconds);
    assert.deepEqual(
      groups.map((g) => [g.group, g.vms.map((v) => v.source.vmId), g.delaySeconds]),
      [
        [0, ['db'], 30],
        [1, ['web'], 0],
      ],
    );
    assert.deepEqual(
      bootGroups(
        [
          { bootGroup: 2, d: 5 },
          { bootGroup: 2, d: 9 },
          { bootGroup: 0, d: 1 },
        ],
        (v) => v.d,
      ).map((g) => [g.group, g.delaySeconds]),
      [
        [0, 1],
        [2, 9],
      ],
    );
  });
});
