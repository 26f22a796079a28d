import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PolicyRecordSchema,
  RpoTickSchema,
  type Policy,
  type RpoTick,
  type Vm,
} from '../../app/protocol';
import { cleanupAgents } from '../helpers/agents';
import {
  call,
  createVpg,
  errorOf,
  fillDisk,
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
 * Calendar policies enforced by two real agents: a site-link policy limits replication to
 * 2 MB/s until a timeframe starting at the next whole minute raises it to 8 MB/s, while a
 * workload writes 12 MB/s; at the same time a second VPG's initial sync is held to the
 * policy's seeding limit of 3 MB/s. Rates are read from rpo.tick (bytes handed to the link,
 * averaged over 3 s). 1 MB = 10^6 bytes; policies are in bits per second.
 */

const MB = 1_000_000;
const SLOW = 2 * MB;
const FAST = 8 * MB;
const SEEDING = 3 * MB;
const WORKLOAD = 12 * MB;
/** A rate meter averages over 3 s: skip this long after a change. */
const SETTLE_MS = 3_500;
const say = (line: string): void => void process.stdout.write(`# ${line}\n`);

let hq: Site;
let dr: Site;
let busy: Vm;
let seeded: Vm;
let busyVpgId: string;

before(async () => {
  [hq, dr] = await Promise.all([launchSite('Headquarters', { diskMiB: 96 }), launchSite('DR')]);
  await pairSites(hq, dr);
  [busy, seeded] = pickVms(await vms(hq), 2, 2) as [Vm, Vm];
  const vpg = await createVpg(hq, dr, { name: 'busy', vmIds: [busy.vmId], rpoTargetSeconds: 30 });
  busyVpgId = vpg.vpgId;
  await untilVpg(hq, busyVpgId, isStatus('Protecting', 'RpoNotMet'), 'initial sync', 90_000);
});

after(async () => {
  await cleanupAgents();
});

const hhmm = (at: Date): string =>
  `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;

/** The link policy: SLOW by default, FAST from `boundary` (a whole minute, UTC) for 10 min. */
function linkPolicy(boundary: number, version: number): Policy {
  const start = new Date(boundary);
  const end = new Date(boundary + 10 * 60_000);
  const day = start.getUTCDay() === 0 ? 7 : start.getUTCDay();
  return {
    schemaVersion: 1,
    version,
    timeZone: 'UTC',
    default: {
      rpoTargetSeconds: 600,
      replicationBitsPerSecond: SLOW * 8,
      seedingBitsPerSecond: SEEDING * 8,
    },
    timeframes: [
      {
        id: 'fast-window',
        name: 'Fast window',
        colour: '#1e88e5',
        days: [day],
        start: hhmm(start),
        end: hhmm(end),
        rpoTargetSeconds: 120,
        replicationBitsPerSecond: FAST * 8,
        seedingBitsPerSecond: SEEDING * 8,
      },
    ],
  };
}

/** Collects every rpo.tick of the site's client until stopped. */
function collectTicks(site: Site): { ticks: RpoTick[]; stop: () => Promise<void> } {
  const ticks: RpoTick[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const params = await site.client.notification('rpo.tick', 500).catch(() => undefined);
      if (params !== undefined) ticks.push(RpoTickSchema.parse(params));
    }
  })();
  return {
    ticks,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function windowRate(ticks: RpoTick[], vpgId: string, from: number, to: number) {
  const rates = ticks
    .filter((t) => t.vpgId === vpgId && t.time >= from && t.time <= to)
    .map((t) => t.sentBytesPerSecond);
  const mean = rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length);
  return { rates, mean };
}

const fmt = (bytes: number): string => `${(bytes / MB).toFixed(2)} MB/s`;

function assertNear(what: string, measured: number, limit: number): void {
  say(`${what}: ${fmt(measured)} (limit ${fmt(limit)})`);
  assert.ok(
    Math.abs(measured - limit) <= 0.1 * limit,
    `${what}: ${fmt(measured)} is not within ±10% of ${fmt(limit)}`,
  );
}

test('policy.set refuses invalid policies, outdated versions and the recovery side', async () => {
  const target = { kind: 'link', peerAgentId: dr.agentId };
  const invalid = { ...linkPolicy(Date.now() + 120_000, 0), timeZone: 'Mars/Olympus' };
  const validated = (await call(hq, 'policy.validate', { policy: invalid })) as {
    valid: boolean;
    issues: { path: string; message: string }[];
  };
  assert.equal(validated.valid, false);
  assert.ok(
    validated.issues.some((i) => i.path.includes('timeZone')),
    JSON.stringify(validated),
  );
  const refused = await errorOf(hq, 'policy.set', { target, policy: invalid });
  assert.equal(refused.code, -32602, refused.message);
  assert.match(refused.message, /timeZone/);

  const outdated = await errorOf(hq, 'policy.set', {
    target,
    policy: linkPolicy(Date.now() + 120_000, 3),
  });
  assert.match(outdated.message, /version 3.*version 0/);

  const received = await errorOf(dr, 'policy.set', {
    target: { kind: 'vpg', vpgId: busyVpgId },
    policy: linkPolicy(Date.now() + 120_000, 0),
  });
  assert.match(received.message, /protected site's agent/);

  const unbound = PolicyRecordSchema.parse(await call(hq, 'policy.get', { target }));
  assert.equal(unbound.policy, undefined);
});

test('replication follows the bandwidth in force, seeding its own limit', async () => {
  // A boundary at a whole minute at least 20 s ahead: a measurable slow window before it.
  const now = Date.now();
  let boundary = Math.ceil(now / 60_000) * 60_000;
  if (boundary - now < 20_000) boundary += 60_000;
  const target = { kind: 'link', peerAgentId: dr.agentId };
  const record = PolicyRecordSchema.parse(
    await call(hq, 'policy.set', { target, policy: linkPolicy(boundary, 0) }),
  );
  assert.equal(record.policy?.version, 1);
  assert.equal(record.inForce?.replicationBitsPerSecond, SLOW * 8);
  assert.equal(record.inForce?.until, boundary, 'the next change is the boundary');
  const applied = Date.now();
  const collector = collectTicks(hq);

  await setWorkload(hq, busy.vmId, WORKLOAD);
  // The second VPG seeds from disks holding data (3 MiB of every 4).
  for (const disk of seeded.disks) await fillDisk(disk.location);
  const seedVpg = await createVpg(hq, dr, { name: 'seeded', vmIds: [seeded.vmId] });
  const seedStart = Date.now();

  const untilEnd = boundary + 16_000 - Date.now();
  say(`boundary in ${Math.round((boundary - Date.now()) / 1000)} s`);
  await sleep(untilEnd);
  await setWorkload(hq, busy.vmId, 0, { paused: true });
  await collector.stop();
  const { ticks } = collector;

  const written = windowRate(ticks, busyVpgId, applied + SETTLE_MS, boundary + 16_000);
  const writtenMean =
    ticks
      .filter((t) => t.vpgId === busyVpgId && t.time >= applied + SETTLE_MS)
      .reduce((a, t) => a + t.writtenBytesPerSecond, 0) / Math.max(1, written.rates.length);
  say(`workload wrote ${fmt(writtenMean)}`);
  assert.ok(writtenMean > FAST * 1.2, 'the workload is above both limits');

  const slow = windowRate(ticks, busyVpgId, applied + SETTLE_MS, boundary);
  const fast = windowRate(ticks, busyVpgId, boundary + SETTLE_MS, boundary + 16_000);
  say(`slow window ticks: ${slow.rates.map(fmt).join(', ')}`);
  say(`fast window ticks: ${fast.rates.map(fmt).join(', ')}`);
  assert.ok(slow.rates.length >= 8 && fast.rates.length >= 8, 'enough ticks in each window');
  assertNear('replication before the boundary', slow.mean, SLOW);
  assertNear('replication after the boundary', fast.mean, FAST);

  // Seeding ticks (initial sync, then the outbox of seed records drains while the VPG is
  // Initializing), less the meter's settling at the start and its tail at the end.
  const seeding = ticks
    .filter((t) => t.vpgId === seedVpg.vpgId && ['Seeding', 'Initializing'].includes(t.status))
    .filter((t) => t.time >= seedStart + SETTLE_MS)
    .slice(0, -4)
    .map((t) => t.sentBytesPerSecond);
  say(`seeding ticks: ${seeding.map(fmt).join(', ')}`);
  assert.ok(seeding.length >= 8, `enough seeding ticks (${seeding.length})`);
  assertNear('seeding', seeding.reduce((a, b) => a + b, 0) / seeding.length, SEEDING);

  const now2 = PolicyRecordSchema.parse(await call(hq, 'policy.get', { target }));
  assert.equal(now2.inForce?.timeframeName, 'Fast window');
  const vpgRecord = PolicyRecordSchema.parse(
    await call(hq, 'policy.get', { target: { kind: 'vpg', vpgId: busyVpgId } }),
  );
  assert.equal(vpgRecord.policy, undefined, 'no policy of its own');
  assert.equal(vpgRecord.inForce?.rpoTargetSeconds, 120, "the link's policy is in force");
  const lastTick = ticks.filter((t) => t.vpgId === busyVpgId).at(-1);
  assert.equal(lastTick?.rpoTargetSeconds, 120, 'rpo.tick carries the target in force');
});

test('a date exception covering today takes over from the weekly timeframes', async () => {
  const target = { kind: 'link', peerAgentId: dr.agentId };
  const current = PolicyRecordSchema.parse(await call(hq, 'policy.get', { target }));
  const now = Date.now();
  const today = new Date(now).toISOString().slice(0, 10);
  // Through tomorrow as well: the measurement never straddles the day boundary.
  const tomorrow = new Date(now + 86_400_000).toISOString().slice(0, 10);
  const weekly = linkPolicy(
    Math.floor(now / 60_000) * 60_000 - 60_000,
    current.policy?.version ?? 0,
  );
  const policy: Policy = {
    ...weekly,
    schemaVersion: 2,
    // The weekly "Fast window" covers now; the exception (a migration day, say) holds it back.
    exceptions: [
      {
        id: 'migration-day',
        name: 'Migration day',
        colour: '#e53935',
        from: today,
        to: tomorrow,
        recurrence: 'once',
        rpoTargetSeconds: 1800,
        replicationBitsPerSecond: SLOW * 8,
      },
    ],
  };
  const record = PolicyRecordSchema.parse(await call(hq, 'policy.set', { target, policy }));
  assert.equal(record.inForce?.exceptionId, 'migration-day');
  assert.equal(record.inForce?.replicationBitsPerSecond, SLOW * 8);
  assert.equal(record.inForce?.until, Date.parse(`${tomorrow}T00:00:00Z`) + 86_400_000);
  const applied = Date.now();
  const collector = collectTicks(hq);
  await setWorkload(hq, busy.vmId, WORKLOAD, { paused: false });
  await sleep(SETTLE_MS + 10_000);
  await setWorkload(hq, busy.vmId, 0, { paused: true });
  await collector.stop();
  const held = windowRate(collector.ticks, busyVpgId, applied + SETTLE_MS, Date.now());
  assert.ok(held.rates.length >= 8, 'enough ticks');
  assertNear('replication on the exception day', held.mean, SLOW);
  const lastTick = collector.ticks.filter((t) => t.vpgId === busyVpgId).at(-1);
  assert.equal(lastTick?.rpoTargetSeconds, 1800, "the exception's RPO target is in force");
});
