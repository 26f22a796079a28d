import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AlertSchema, type Alert } from '../../app/alerts/alert-schemas';
import { PolicyRecordSchema, type Policy } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  call,
  createVpg,
  isStatus,
  launchSite,
  pairSites,
  pickVms,
  setWorkload,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * An RPO alert driven by the calendar, between two real agents: until a timeframe that starts
 * at the next whole minute, the site link's policy holds replication to 1 MB/s with a 5 s RPO
 * target while the VM writes 3 MB/s, so the RPO climbs past the target and, after the 3 s grace
 * period, an alert is raised naming the default timeframe; the next timeframe lifts the limit,
 * the backlog drains, and the alert clears. Both show in alert.list with their times.
 */

const MB = 1_000_000;
const GRACE_SECONDS = 3;
const TARGET_SECONDS = 5;
const say = (line: string): void => void process.stdout.write(`# ${line}\n`);

let hq: Site;
let dr: Site;
let vpgId: string;
let vmId: string;

before(async () => {
  [hq, dr] = await Promise.all([
    launchSite('Headquarters', { runArgs: ['--rpo-grace-seconds', String(GRACE_SECONDS)] }),
    launchSite('DR'),
  ]);
  await pairSites(hq, dr);
  const [vm] = pickVms(await vms(hq), 1, 1);
  assert.ok(vm, 'a VM with one disk');
  vmId = vm.vmId;
  const vpg = await createVpg(hq, dr, {
    name: 'calendar',
    vmIds: [vmId],
    checkpointIntervalMs: 1000,
    rpoTargetSeconds: 600,
  });
  vpgId = vpg.vpgId;
  await untilVpg(hq, vpgId, isStatus('Protecting'), 'Protecting', 60_000);
});

after(cleanupAgents);

const hhmm = (at: Date): string =>
  `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;

/** 1 MB/s by default; unlimited from `boundary` (a whole minute, UTC) for 10 minutes. */
function policy(boundary: number): Policy {
  const start = new Date(boundary);
  const day = start.getUTCDay() === 0 ? 7 : start.getUTCDay();
  return {
    schemaVersion: 1,
    version: 0,
    timeZone: 'UTC',
    default: { rpoTargetSeconds: TARGET_SECONDS, replicationBitsPerSecond: 1 * MB * 8 },
    timeframes: [
      {
        id: 'night',
        name: 'Open link',
        colour: '#43a047',
        days: [day],
        start: hhmm(start),
        end: hhmm(new Date(boundary + 10 * 60_000)),
        rpoTargetSeconds: TARGET_SECONDS,
      },
    ],
  };
}

test('a workload over the bandwidth in force raises an RPO alert after the grace period; the next timeframe clears it', async () => {
  // The next whole minute at least 25 s ahead: time for the RPO to pass the target + grace.
  const boundary = Math.ceil((Date.now() + 25_000) / 60_000) * 60_000;
  const record = PolicyRecordSchema.parse(
    await call(hq, 'policy.set', {
      target: { kind: 'link', peerAgentId: dr.agentId },
      policy: policy(boundary),
    }),
  );
  assert.equal(record.inForce?.timeframeName, 'Default');
  assert.equal(record.inForce?.until, boundary);
  const started = Date.now();
  await setWorkload(hq, vmId, 3 * MB);

  const raised = AlertSchema.parse(
    await hq.client.notification('alert.raised', boundary - Date.now()),
  );
  say(
    `raised ${((raised.raisedAt - started) / 1000).toFixed(1)} s after the workload started, ${((boundary - raised.raisedAt) / 1000).toFixed(1)} s before the boundary`,
  );
  assert.equal(raised.kind, 'rpo');
  assert.equal(raised.vpgId, vpgId);
  assert.equal(raised.timeframeName, 'Default');
  assert.equal(raised.rpoTargetSeconds, TARGET_SECONDS);
  assert.ok(raised.raisedAt < boundary, 'raised under the limiting timeframe');
  // RPO passes 5 s no sooner than ~5 s after the limit bites, then the grace: ≥ 8 s.
  assert.ok(raised.raisedAt - started >= (TARGET_SECONDS + GRACE_SECONDS) * 1000 - 1000);

  const cleared = AlertSchema.parse(
    await hq.client.notification('alert.cleared', boundary - Date.now() + 45_000),
  );
  say(
    `cleared ${((cleared.clearedAt ?? 0) - boundary) / 1000} s after the boundary; worst RPO ${cleared.worstRpoSeconds?.toFixed(1)} s`,
  );
  assert.equal(cleared.alertId, raised.alertId);
  assert.ok(cleared.clearedAt !== undefined && cleared.clearedAt >= boundary, 'cleared after it');
  assert.ok(cleared.clearedAt - boundary < 30_000, 'cleared soon after the limit was lifted');
  assert.ok((cleared.worstRpoSeconds ?? 0) > TARGET_SECONDS);

  const listed = AlertSchema.array().parse(await call(hq, 'alert.list', { vpgId }));
  const found = listed.find((a: Alert) => a.alertId === raised.alertId);
  assert.ok(found, 'in alert.list');
  assert.equal(found.raisedAt, raised.raisedAt);
  assert.equal(found.clearedAt, cleared.clearedAt);
  const now = PolicyRecordSchema.parse(
    await call(hq, 'policy.get', { target: { kind: 'vpg', vpgId } }),
  );
  assert.equal(now.inForce?.timeframeName, 'Open link');
  await setWorkload(hq, vmId, 0);
});
