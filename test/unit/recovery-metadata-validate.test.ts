import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import {
  VpgRecoverySettingsSchema,
  type VpgRecoverySettings,
} from '../../app/recovery/recovery-schemas';
import {
  checkRecoverySettings,
  recoveryProblems,
  type RecoveryVmInfo,
} from '../../app/recovery/validate-recovery';

const vms: RecoveryVmInfo[] = [
  { vmId: 'vm-web', name: 'web-01', nicNames: ['eth0', 'eth1'] },
  { vmId: 'vm-db', name: 'db-01', nicNames: ['eth0'] },
];

const settings = (input: unknown): VpgRecoverySettings => VpgRecoverySettingsSchema.parse(input);
const problems = (input: unknown): [string, string][] =>
  recoveryProblems(settings(input), vms).map((p) => [p.path.join('/'), p.message]);

describe('recoveryProblems', () => {
  it('accepts settings for the VPG’s VMs and their NICs, live and test mapped separately', () => {
    const input = {
      vms: [
        {
          vmId: 'vm-web',
          bootGroup: 1,
          bootDelaySeconds: 30,
          live: [
            { nicName: 'eth0', network: 'dr-lan', ip: { mode: 'dhcp' } },
            { nicName: 'eth1', network: 'dr-backup' },
          ],
          // The same NIC once for live and once for test is the normal case.
          test: [{ nicName: 'eth0', network: 'bubble' }],
        },
        { vmId: 'vm-db' },
      ],
    };
    assert.deepEqual(problems(input), []);
    assert.doesNotThrow(() => checkRecoverySettings(settings(input), vms));
    assert.doesNotThrow(() => checkRecoverySettings(undefined, vms));
    assert.deepEqual(problems({}), []);
  });

  it('refuses a VM that is not in the VPG', () => {
    assert.deepEqual(problems({ vms: [{ vmId: 'vm-other' }] }), [
      [
        'recovery/vms/0/vmId',
        "VM vm-other is not in the VPG: recovery settings can only be given for the VPG's VMs",
      ],
    ]);
  });

  it('refuses a VM listed twice, naming both entries', () => {
    assert.deepEqual(
      problems({ vms: [{ vmId: 'vm-db' }, { vmId: 'vm-web' }, { vmId: 'vm-db' }] }),
      [
        [
          'recovery/vms/2/vmId',
          'VM "db-01" has recovery settings twice (entries 1 and 3): keep one',
        ],
      ],
    );
  });

  it('refuses a NIC the VM does not have, listing the ones it has', () => {
    assert.deepEqual(
      problems({ vms: [{ vmId: 'vm-db', test: [{ nicName: 'eth7', network: 'bubble' }] }] }),
      [['recovery/vms/0/test/0/nicName', 'VM "db-01" has no NIC "eth7" (its NICs: eth0)']],
    );
  });

  it('refuses a NIC mapped twice for the same kind of failover', () => {
    const twice = {
      vms: [
        {
          vmId: 'vm-web',
          live: [
            { nicName: 'eth1', network: 'a' },
            { nicName: 'eth1', network: 'b' },
          ],
        },
      ],
    };
    assert.deepEqual(problems(twice), [
      [
        'recovery/vms/0/live/1/nicName',
        'NIC "eth1" of VM "web-01" is mapped twice for live failover: keep one mapping',
      ],
    ]);
  });

  it('names a VM without a name by its id', () => {
    const unnamed = [{ vmId: 'vm-x', nicNames: [] }];
    const found = recoveryProblems(
      settings({ vms: [{ vmId: 'vm-x', live: [{ nicName: 'eth0', network: 'n' }] }] }),
      unnamed,
    );
    assert.deepEqual(
      found.map((p) => p.message),
      ['VM vm-x has no NIC "eth0" (its NICs: none)'],
    );
  });
});

describe('checkRecoverySettings', () => {
  it('throws INVALID_PARAMS with every problem and the first one’s path', () => {
    const bad = settings({
      vms: [{ vmId: 'vm-nope' }, { vmId: 'vm-web', live: [{ nicName: 'eth9', network: 'n' }] }],
    });
    assert.throws(
      () => checkRecoverySettings(bad, vms),
      (err: unknown) => {
        assert.ok(err instanceof TidelineError);
        assert.equal(err.code, 'INVALID_PARAMS');
        assert.match(
          err.message,
          /^The recovery settings are not valid: VM vm-nope is not in the VPG/,
        );
        assert.match(err.message, /VM "web-01" has no NIC "eth9"/);
        assert.equal(err.data?.['path'], 'recovery.vms[0].vmId');
        assert.equal((err.data?.['issues'] as unknown[]).length, 2);
        return true;
      },
    );
  });

  it('shows at most five problems and says how many more there are', () => {
    const many = settings({
      vms: Array.from({ length: 7 }, (_, i) => ({ vmId: `vm-missing-${i}` })),
    });
    assert.throws(
      () => checkRecoverySettings(many, vms),
      (err: unknown) =>
        err instanceof TidelineError &&
        err.message.endsWith('; and 2 more') &&
        (err.message.match(/is not in the VPG/g) ?? []).length === 5,
    );
  });
});
