import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentRpoSeconds, rpoMet } from '../../app/vpg/rpo';
import { DEFAULT_CHECKPOINT_INTERVAL_MS, VpgSettingsSchema } from '../../app/vpg/vpg-schemas';

test('RPO is now minus the newest confirmed checkpoint, unknown before the first', () => {
  assert.equal(currentRpoSeconds(10_000, undefined), undefined);
  assert.equal(currentRpoSeconds(10_000, 4_000), 6);
  assert.equal(currentRpoSeconds(10_000, 12_000), 0, 'clock skew never gives a negative RPO');
  assert.equal(rpoMet(6, 10), true);
  assert.equal(rpoMet(11, 10), false);
  assert.equal(rpoMet(undefined, 10), false);
});

const settings = {
  name: 'web + db',
  vmIds: ['vm-web', 'vm-db'],
  recoverySiteId: 'site-rdc',
  recoveryHostId: 'host-1',
  recoveryDatastore: 'datastore1',
  journal: { historySeconds: 4 * 3600, hardLimitBytes: 10 * 2 ** 30, warningBytes: 8 * 2 ** 30 },
  rpoTargetSeconds: 30,
};

test('VPG settings default the checkpoint interval to 5 s and explain what is wrong', () => {
  const ok = VpgSettingsSchema.parse(settings);
  assert.equal(ok.checkpointIntervalMs, DEFAULT_CHECKPOINT_INTERVAL_MS);
  const noVms = VpgSettingsSchema.safeParse({ ...settings, vmIds: [] });
  assert.equal(noVms.error?.issues[0]?.message, 'a VPG protects at least one VM');
  const badJournal = VpgSettingsSchema.safeParse({
    ...settings,
    journal: { ...settings.journal, warningBytes: settings.journal.hardLimitBytes },
  });
  assert.deepEqual(badJournal.error?.issues[0]?.path, ['journal', 'warningBytes']);
  assert.match(badJournal.error?.issues[0]?.message ?? '', /below the hard limit/);
});
