import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AlertSchema, type Alert } from '../../app/alerts/alert-schemas';
import { ErrorCodes } from '../../app/errors';
import type { VpgState } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  call,
  createVpg,
  errorOf,
  isStatus,
  launchSite,
  pairSites,
  recordTicks,
  startSite,
  stopSite,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * RPO alerts between two real agents: the source runs with a 3 s grace period; a VPG with a
 * 3 s RPO target loses its recovery agent, so its RPO grows past the target: an 'rpo' alert is
 * raised once the breach lasted longer than the grace, and cleared when the recovery agent is
 * back and the RPO under the target again.
 */

const GRACE_S = 3;
const TARGET_S = 3;
let hq: Site;
let dr: Site;
let vpg: VpgState;

async function alerts(params?: Record<string, unknown>): Promise<Alert[]> {
  return AlertSchema.array().parse(await call(hq, 'alert.list', params));
}

before(async () => {
  [hq, dr] = await Promise.all([
    launchSite('Headquarters', { runArgs: ['--rpo-grace-seconds', String(GRACE_S)] }),
    launchSite('Recovery DC'),
  ]);
  await pairSites(hq, dr);
  const vm = (await vms(hq))[0];
  assert.ok(vm);
  vpg = await createVpg(hq, dr, {
    name: 'Web tier',
    vmIds: [vm.vmId],
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: TARGET_S,
  });
  await untilVpg(hq, vpg.vpgId, isStatus('Protecting'), 'Protecting');
});
after(cleanupAgents);

describe('RPO alerts', { timeout: 120_000 }, () => {
  it('raises after the grace, clears when the RPO is back under the target, acks', async () => {
    assert.deepEqual(await alerts(), [], 'no alert while the RPO is met');
    const recorder = recordTicks(hq, vpg.vpgId);
    const stoppedAt = Date.now();
    await stopSite(dr);

    const raised = AlertSchema.parse(await hq.client.notification('alert.raised', 30_000));
    const breach = recorder.ticks.find(
      (t) => t.time >= stoppedAt && t.rpoSeconds !== undefined && t.rpoSeconds > TARGET_S,
    );
    assert.ok(breach, 'a tick over the target came before the alert');
    assert.equal(raised.kind, 'rpo');
    assert.equal(raised.vpgId, vpg.vpgId);
    assert.equal(raised.vpgName, 'Web tier');
    assert.equal(raised.timeframeName, 'Default');
    assert.equal(raised.rpoTargetSeconds, TARGET_S);
    assert.equal(raised.clearedAt, undefined);
    const late = raised.raisedAt - breach.time;
    assert.ok(
      late > GRACE_S * 1000 && late <= GRACE_S * 1000 + 1500,
      `raised ${late} ms after the breach began (grace ${GRACE_S} s, ticks every second)`,
    );
    assert.ok((raised.worstRpoSeconds ?? 0) > TARGET_S + GRACE_S - 1);
    assert.match(raised.message, new RegExp(new Date(breach.time).toISOString()));
    const listed = await alerts({ state: 'raised' });
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.alertId, raised.alertId);

    const restartAt = Date.now();
    await startSite(dr);
    const cleared = AlertSchema.parse(await hq.client.notification('alert.cleared', 60_000));
    await recorder.stop();
    assert.equal(cleared.alertId, raised.alertId);
    assert.ok(cleared.clearedAt !== undefined && cleared.clearedAt >= restartAt);
    const atClear = recorder.ticks.find((t) => t.time === cleared.clearedAt);
    assert.ok(atClear?.rpoSeconds !== undefined && atClear.rpoSeconds <= TARGET_S);
    const worstSeen = Math.max(
      ...recorder.ticks
        .filter((t) => t.time >= breach.time && t.time < (cleared.clearedAt ?? 0))
        .map((t) => t.rpoSeconds ?? 0),
    );
    assert.equal(cleared.worstRpoSeconds, worstSeen, 'the worst RPO of the breach');
    assert.ok(worstSeen >= (restartAt - stoppedAt) / 1000, `worst ${worstSeen} s`);

    const [listedCleared] = await alerts({ vpgId: vpg.vpgId, state: 'cleared' });
    assert.deepEqual(listedCleared, cleared);
    assert.deepEqual(await alerts({ state: 'raised' }), []);

    const acked = AlertSchema.parse(await call(hq, 'alert.ack', { alertId: raised.alertId }));
    assert.ok(acked.acknowledgedAt !== undefined && acked.acknowledgedAt >= cleared.clearedAt);
    assert.equal((await alerts())[0]?.acknowledgedAt, acked.acknowledgedAt);
    const unknown = await errorOf(hq, 'alert.ack', { alertId: 'no-such-alert' });
    assert.equal(unknown.code, ErrorCodes.NOT_FOUND);
  });
});
