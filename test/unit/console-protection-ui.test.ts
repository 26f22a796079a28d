import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatDuration,
  formatRate,
  formatSize,
  journalUse,
  rpoLevel,
  rpoText,
} from '../../renderer/lib/protection';
import {
  EMPTY_VPG_FORM,
  formToSettings,
  stepErrors,
  type VpgForm,
} from '../../renderer/lib/vpg-form';

const GIB = 2 ** 30;

const filled: VpgForm = {
  ...EMPTY_VPG_FORM,
  name: 'Finance',
  protectedSiteId: 'hq',
  vmIds: ['vm-1', 'vm-2'],
  recoverySiteId: 'rdc',
  recoveryHostId: 'h1',
  recoveryDatastore: 'datastore1',
};

describe('protection figures as the console shows them', () => {
  it('grades the RPO against its target: green under, amber near, red over', () => {
    assert.equal(rpoLevel(undefined, 30), 'unknown');
    assert.equal(rpoLevel(6, 30), 'ok');
    assert.equal(rpoLevel(24, 30), 'ok');
    assert.equal(rpoLevel(25, 30), 'near');
    assert.equal(rpoLevel(30, 30), 'near');
    assert.equal(rpoLevel(31, 30), 'over');
  });

  it('reads durations, rates and sizes the way an admin says them', () => {
    assert.equal(rpoText(6.4, 30), 'RPO 6 s / target 30 s');
    assert.equal(rpoText(undefined, 300), 'RPO — / target 5 min');
    assert.equal(formatDuration(150), '2 min 30 s');
    assert.equal(formatDuration(3900), '1 h 5 min');
    assert.equal(formatDuration(4 * 3600), '4 h');
    assert.equal(formatRate(0), '0 MB/s');
    assert.equal(formatRate(420_000), '0.42 MB/s');
    assert.equal(formatRate(3_140_000), '3.1 MB/s');
    assert.equal(formatSize(0), '0 B');
    assert.equal(formatSize(12 * 1024), '12 KiB');
    assert.equal(formatSize(1.5 * GIB), '1.5 GiB');
  });

  it('measures journal use against the hard limit, with the warning threshold', () => {
    assert.deepEqual(journalUse(GIB, 10 * GIB, 8 * GIB), { percent: 10, level: 'ok' });
    assert.equal(journalUse(8 * GIB, 10 * GIB, 8 * GIB).level, 'warning');
    assert.equal(journalUse(10 * GIB, 10 * GIB, 8 * GIB).level, 'full');
  });
});

describe('the VPG wizard’s form', () => {
  it('turns the defaults into VpgSettings in the schema’s units', () => {
    const result = formToSettings(filled);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.settings.journal, {
      historySeconds: 4 * 3600,
      hardLimitBytes: 20 * GIB,
      warningBytes: 15 * GIB,
    });
    assert.equal(result.settings.checkpointIntervalMs, 5000);
    assert.equal(result.settings.rpoTargetSeconds, 30);
  });

  it('puts the schema’s messages on the fields, in the fields’ own units', () => {
    const result = formToSettings({
      ...filled,
      name: ' ',
      vmIds: [],
      historyHours: '1000',
      hardLimitGiB: 'lots',
      rpoTargetSeconds: '2.5',
      checkpointIntervalSeconds: '0.5',
    });
    assert.ok(!result.ok);
    assert.equal(result.errors.name, 'Give the VPG a name');
    assert.equal(result.errors.vmIds, 'A VPG protects at least one VM');
    assert.equal(result.errors.historyHours, 'Must be at most 720 h');
    assert.equal(result.errors.hardLimitGiB, 'Enter a number');
    assert.equal(result.errors.rpoTargetSeconds, 'Use a whole number of seconds');
    assert.equal(result.errors.checkpointIntervalSeconds, 'Must be at least 1 s');
    assert.deepEqual(Object.keys(stepErrors(result.errors, 0)).sort(), ['name', 'vmIds']);
    assert.deepEqual(stepErrors(result.errors, 1), {});
  });

  it('refuses a warning threshold at or above the hard limit, in GiB or percent', () => {
    const gib = formToSettings({ ...filled, warningUnit: 'GiB', warning: '20' });
    assert.ok(!gib.ok);
    assert.equal(gib.errors.warning, 'The warning threshold must be below the hard limit');
    const pct = formToSettings({ ...filled, warning: '120' });
    assert.ok(!pct.ok);
    assert.equal(pct.errors.warning, 'Give a percentage between 0 and 100');
  });

  it('asks for the choices not made yet', () => {
    const result = formToSettings({ ...filled, recoverySiteId: '', recoveryHostId: '' });
    assert.ok(!result.ok);
    assert.deepEqual(stepErrors(result.errors, 1), {
      recoverySiteId: 'Choose the recovery site',
      recoveryHostId: 'Choose the recovery host',
    });
  });
});
