import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { measuredProfile, planLink } from '../../app/planner';
import { MetricsHistorySchema, type Policy, type Vm } from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  call,
  createVpg,
  isStatus,
  launchSite,
  loopStalls,
  pickVms,
  pairSites,
  recordTicks,
  setWorkload,
  untilVpg,
  vms,
  type Site,
} from '../helpers/replication-sites';
import { toInstant, toLocal, weekStartOfLocal } from '../../app/policy/wall-clock';

/**
 * The planner against reality (issue 14): two real agents, a workload whose rate changes at
 * every minute for 7 minutes, under a link policy of 3 MB/s that rises to 6 MB/s at a minute
 * boundary, so the rate is above the limit in some minutes and below it in others (backlog
 * builds, then drains). The planner, fed the agent's measured 1-minute history of the run,
 * predicts the worst RPO of each minute as rpo.tick measured it, within ±20% or ±5 s.
 *
 * A minute's rpo.tick, from its first second, see the end of the minute before and the
 * whole minute: the prediction is the larger of the step before's end RPO and the step's
 * worst (app/planner/README.md).
 */

const MB = 1_000_000;
const MINUTE = 60_000;
const LOW = 3 * MB;
const HIGH = 6 * MB;
/** MB/s written in each minute from the first boundary; the limit rises after minute 3. */
const SCHEDULE = [2, 4, 5, 1, 8, 3, 0.5].map((r) => r * MB);
const RAISE_AFTER = 3;
const INTERVAL_S = 2;
const say = (line: string): void => void process.stdout.write(`# ${line}\n`);

let hq: Site;
let dr: Site;
let vm: Vm;
let vpgId: string;

before(async () => {
  [hq, dr] = await Promise.all([launchSite('Headquarters', { diskMiB: 96 }), launchSite('DR')]);
  await pairSites(hq, dr);
  [vm] = pickVms(await vms(hq), 1, 1) as [Vm];
  const vpg = await createVpg(hq, dr, {
    name: 'accuracy',
    vmIds: [vm.vmId],
    rpoTargetSeconds: 60,
    checkpointIntervalMs: INTERVAL_S * 1000,
  });
  vpgId = vpg.vpgId;
  await untilVpg(hq, vpgId, isStatus('Protecting'), 'initial sync', 90_000);
});

after(async () => {
  await cleanupAgents();
});

const hhmm = (at: number): string => new Date(at).toISOString().slice(11, 16);

/** LOW by default; HIGH from `raise` (a whole minute, UTC) for an hour. */
function linkPolicy(raise: number): Policy {
  const day = new Date(raise).getUTCDay();
  return {
    schemaVersion: 2,
    version: 0,
    timeZone: 'UTC',
    default: { rpoTargetSeconds: 60, replicationBitsPerSecond: LOW * 8 },
    timeframes: [
      {
        id: 'raised',
        name: 'Raised',
        colour: '#1e88e5',
        days: [day === 0 ? 7 : (day as 1 | 2 | 3 | 4 | 5 | 6)],
        start: hhmm(raise),
        end: hhmm(raise + 60 * MINUTE),
        rpoTargetSeconds: 60,
        replicationBitsPerSecond: HIGH * 8,
      },
    ],
    exceptions: [],
  };
}

test('predicted worst RPO per minute against rpo.tick, from the measured 1-minute history', async () => {
  // The run starts at a whole minute at least 10 s ahead (so the policy is bound before).
  let start = Math.ceil(Date.now() / MINUTE) * MINUTE;
  if (start - Date.now() < 10_000) start += MINUTE;
  const raise = start + RAISE_AFTER * MINUTE;
  const policy = linkPolicy(raise);
  await call(hq, 'policy.set', { target: { kind: 'link', peerAgentId: dr.agentId }, policy });
  const ticks = recordTicks(hq, vpgId);
  for (const [m, rate] of SCHEDULE.entries()) {
    await sleep(start + m * MINUTE - Date.now());
    await setWorkload(hq, vm.vmId, rate);
  }
  const end = start + SCHEDULE.length * MINUTE;
  await sleep(end - Date.now());
  await setWorkload(hq, vm.vmId, 0);
  // One more minute: the backlog drains, and the minute history holds the run's last minute.
  await sleep(end + MINUTE + 2_000 - Date.now());
  await ticks.stop();

  const history = MetricsHistorySchema.parse(
    await call(hq, 'metrics.history', {
      vpgId,
      from: start - 5 * MINUTE,
      to: end + MINUTE,
      resolution: 'minute',
    }),
  );
  const profile = measuredProfile(history.points, 'UTC');
  const weekStart = toInstant('UTC', weekStartOfLocal(toLocal('UTC', start)));
  const plan = planLink({
    start: weekStart,
    linkPolicy: policy,
    vpgs: [
      {
        vpgId,
        name: 'accuracy',
        rates: profile.rates,
        rpoTargetSeconds: 60,
        checkpointIntervalSeconds: INTERVAL_S,
      },
    ],
    graceSeconds: 60,
  });
  const predicted = plan.vpgs[0]?.rpoSeconds ?? assert.fail('no forecast');
  const steps = predicted.length;
  const rows: string[] = [];
  const misses: string[] = [];
  for (let m = 0; m <= SCHEDULE.length; m++) {
    const from = start + m * MINUTE;
    const s = Math.round((from - weekStart) / MINUTE) % steps;
    const ends = plan.vpgs[0]?.endRpoSeconds ?? assert.fail('no end curve');
    const worstPredicted = Math.max(
      ends[(s - 1 + steps) % steps] as number,
      predicted[s] as number,
    );
    const inMinute = ticks.ticks.filter(
      (t) => t.time >= from && t.time < from + MINUTE && t.rpoSeconds !== undefined,
    );
    const worstMeasured = Math.max(...inMinute.map((t) => t.rpoSeconds ?? 0));
    const written = history.points.find((p) => p.time === from)?.writtenBytesPerSecond ?? 0;
    const limit = m < RAISE_AFTER ? LOW : HIGH;
    const tolerance = Math.max(0.2 * worstMeasured, 5);
    const ok = Math.abs(worstPredicted - worstMeasured) <= tolerance;
    const sent = inMinute.reduce((a, t) => a + t.sentBytesPerSecond, 0) / inMinute.length;
    const backlogEnd = inMinute.at(-1)?.backlogBytes ?? 0;
    const backlogPredicted = plan.vpgs[0]?.backlogBytes[s] ?? 0;
    rows.push(
      `| ${m} | ${(written / MB).toFixed(2)} | ${limit / MB} | ${(sent / MB).toFixed(2)} | ` +
        `${(backlogEnd / MB).toFixed(0)} / ${(backlogPredicted / MB).toFixed(0)} | ` +
        `${worstMeasured.toFixed(1)} | ${worstPredicted.toFixed(1)} | ${ok ? 'yes' : 'NO'} |`,
    );
    if (!ok) {
      const trace = inMinute
        .filter((_, i) => i % 5 === 0)
        .map(
          (t) =>
            `${Math.round((t.time - from) / 1000)}s: rpo ${t.rpoSeconds?.toFixed(1)} written ${(t.writtenBytesPerSecond / MB).toFixed(1)} sent ${(t.sentBytesPerSecond / MB).toFixed(1)} backlog ${(t.backlogBytes / MB).toFixed(0)}`,
        );
      say(`minute ${m}: ${trace.join('; ')}`);
    }
    if (inMinute.length < 50) misses.push(`minute ${m}: only ${inMinute.length} ticks`);
    if (!ok)
      misses.push(
        `minute ${m}: predicted ${worstPredicted.toFixed(1)} s, measured ${worstMeasured.toFixed(1)} s`,
      );
  }
  say(
    '| minute | written MB/s | link limit MB/s | sent MB/s | backlog at end MB (measured / predicted) | worst RPO measured (s) | predicted (s) | within |',
  );
  say('|---|---|---|---|---|---|---|---|');
  for (const row of rows) say(row);
  // A stalled agent (no ticks, nothing sent) is the host's doing, not the planner's: say so.
  for (const site of [hq, dr]) {
    const stalls = loopStalls(site);
    say(`${site.name}: ${stalls.length === 0 ? 'no event loop stalls' : stalls.join(', ')}`);
  }
  assert.deepEqual(misses, [], rows.join('\n'));
});
