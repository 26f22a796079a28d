/**
 * The planner's model on cases computed by hand (app/planner/README.md): one-minute steps,
 * a short repeating "week", a fluid FIFO per VPG, RPO = age of the oldest unsent byte + the
 * checkpoint interval.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planLink, simulate } from '../../app/planner';
import type { Policy } from '../../app/policy/policy-schemas';

const MB = 1e6;
const I = 5; // checkpoint interval, s
/** Monday 2026-11-30 00:00 UTC. */
const MONDAY = Date.UTC(2026, 10, 30);

const rounded = (values: ArrayLike<number>): number[] =>
  Array.from(values, (v) => Math.round(v * 1000) / 1000);

function policy(over: Partial<Policy> = {}): Policy {
  return {
    schemaVersion: 1,
    version: 1,
    timeZone: 'UTC',
    default: { rpoTargetSeconds: 3600 },
    timeframes: [],
    ...over,
  };
}

test('a constant rate under the limit: RPO is the checkpoint interval, nothing waits', () => {
  const sim = simulate({
    rates: [new Array(10).fill(0.5 * MB)],
    linkBytesPerSecond: new Array(10).fill(1 * MB),
    vpgBytesPerSecond: [new Array(10).fill(Infinity)],
    checkpointIntervalSeconds: [I],
    stepSeconds: 60,
    steps: 10,
  });
  assert.deepEqual(rounded(sim.rpoSeconds[0] ?? []), new Array(10).fill(I));
  assert.deepEqual(rounded(sim.backlogBytes[0] ?? []), new Array(10).fill(0));
});

test('a burst above the limit: the backlog and the age grow, then drain at the link rate', () => {
  // 2 MB/s for 3 minutes over a 1 MB/s link. After minute j (while backlog is left) the
  // oldest unsent byte arrived when arrivals (2 MB/s) equalled what was sent (1 MB/s × t):
  // age = t − t/2, during the burst and after it. The last byte written (at 180 s) goes at
  // 360 s: minute 5's worst is 180 s, though nothing waits at its end.
  const rates = [2, 2, 2, 0, 0, 0, 0, 0, 0, 0].map((r) => r * MB);
  const sim = simulate({
    rates: [rates],
    linkBytesPerSecond: new Array(10).fill(1 * MB),
    vpgBytesPerSecond: [new Array(10).fill(Infinity)],
    checkpointIntervalSeconds: [I],
    stepSeconds: 60,
    steps: 10,
  });
  assert.deepEqual(rounded(sim.rpoSeconds[0] ?? []), [35, 65, 95, 125, 155, 185, I, I, I, I]);
  assert.deepEqual(
    rounded(sim.backlogBytes[0] ?? []),
    [60, 120, 180, 120, 60, 0, 0, 0, 0, 0].map((b) => b * MB),
  );
});

test('two VPGs sharing a link: shares in proportion to their backlogs', () => {
  // Minute 0: A 30 MB and B 90 MB arrive, the link sends 60: 15 and 45 (30:90). Minute 1: A
  // gets 30 more (45 waiting), B has 45: 30 each. A's oldest byte then arrived at 90 s, B's
  // at 50 s (75 of its 90 MB sent). Minute 2: 45 + 15 fit in 60: all sent, B's 15 MB at the
  // 15 MB a minute A leaves it, so its last byte (written at 60 s) goes at 180 s: 120 s old.
  // A's 15 MB waiting (written by 60 s) go in the first 20 s of minute 2: 20 s old at worst.
  const sim = simulate({
    rates: [new Array(6).fill(0.5 * MB), [1.5 * MB, 0, 0, 0, 0, 0]],
    linkBytesPerSecond: new Array(6).fill(1 * MB),
    vpgBytesPerSecond: [new Array(6).fill(Infinity), new Array(6).fill(Infinity)],
    checkpointIntervalSeconds: [I, I],
    stepSeconds: 60,
    steps: 6,
  });
  assert.deepEqual(
    rounded(sim.backlogBytes[0] ?? []),
    [15, 15, 0, 0, 0, 0].map((b) => b * MB),
  );
  assert.deepEqual(
    rounded(sim.backlogBytes[1] ?? []),
    [45, 15, 0, 0, 0, 0].map((b) => b * MB),
  );
  assert.deepEqual(rounded(sim.rpoSeconds[0] ?? []), [30 + I, 30 + I, 20 + I, I, I, I]);
  assert.deepEqual(rounded(sim.rpoSeconds[1] ?? []), [30 + I, 70 + I, 120 + I, I, I, I]);
});

test('a VPG capped by its own limit leaves the link to the other (water-filling)', () => {
  const sim = simulate({
    rates: [
      [2 * MB, 0],
      [2 * MB, 0],
    ],
    linkBytesPerSecond: [2 * MB, 2 * MB],
    // A may send 0.5 MB/s; B takes what A cannot: 1.5 MB/s.
    vpgBytesPerSecond: [
      [0.5 * MB, 0.5 * MB],
      [Infinity, Infinity],
    ],
    checkpointIntervalSeconds: [I, I],
    stepSeconds: 60,
    steps: 2,
  });
  assert.deepEqual(rounded(sim.backlogBytes[1] ?? []), [30 * MB, 0]);
  // Steady state: A's backlog (90 MB after minute 0, 60 after minute 1) never drains
  // within the 2-minute week; it carries over.
  assert.ok((sim.backlogBytes[0]?.[1] ?? 0) > 0);
});

test('a timeframe boundary mid-burst: the limit starts at its minute, the forecast per timeframe', () => {
  // No limit until 00:02, then 8 Mbit/s (1 MB/s) until 00:10; 2 MB/s written for 4 minutes.
  const link = policy({
    default: { rpoTargetSeconds: 60 },
    timeframes: [
      {
        id: 'business',
        name: 'Business',
        colour: '#1e88e5',
        days: [1],
        start: '00:02',
        end: '00:10',
        rpoTargetSeconds: 60,
        replicationBitsPerSecond: 8_000_000,
      },
    ],
  });
  const plan = planLink({
    start: MONDAY,
    linkPolicy: link,
    graceSeconds: 60,
    vpgs: [
      {
        vpgId: 'v',
        name: 'Burst',
        rates: [2, 2, 2, 2, 0, 0, 0, 0, 0, 0].map((r) => r * MB),
        rpoTargetSeconds: 300,
        checkpointIntervalSeconds: I,
      },
    ],
  });
  const vpg = plan.vpgs[0];
  assert.ok(vpg);
  // The last byte of the burst (written at 240 s) goes at 360 s: minute 5's worst is 120 s.
  assert.deepEqual(rounded(vpg.rpoSeconds), [I, I, 30 + I, 60 + I, 90 + I, 120 + I, I, I, I, I]);
  const business = vpg.timeframes.find((t) => t.frame.timeframeId === 'business');
  assert.equal(business?.worstRpoSeconds, 120 + I);
  assert.equal(business?.stepsOverTarget, 3); // 65, 95 and 125 s against 60 s
  assert.equal(business?.alerts.length, 1, 'above target for 3 minutes ≥ the 60 s grace');
  assert.equal(business?.alerts[0]?.from, MONDAY + 3 * 60_000);
  assert.equal(business?.verdict, 'missed');
  const rest = vpg.timeframes.find((t) => t.frame.timeframeId === undefined);
  assert.equal(rest?.worstRpoSeconds, I);
  assert.equal(rest?.verdict, 'met');
});

/** A 3-minute burst of 2 MB/s against a 65 s target over a link limited to `bits`. */
function burstPlan(bits: number, wireShare?: number) {
  return planLink({
    start: MONDAY,
    linkPolicy: policy({ default: { rpoTargetSeconds: 65, replicationBitsPerSecond: bits } }),
    graceSeconds: 60,
    ...(wireShare !== undefined && { wireShare }),
    vpgs: [
      {
        vpgId: 'v',
        name: 'Burst',
        rates: [2, 2, 2, 0, 0, 0, 0, 0, 0, 0].map((r) => r * MB),
        rpoTargetSeconds: 300,
        checkpointIntervalSeconds: I,
        journal: { historySeconds: 120, hardLimitBytes: 1e12 },
      },
    ],
  });
}

test('least bandwidth: the smallest link rate that keeps the target, found over the same model', () => {
  // The 3-minute burst of 2 MB/s against a 65 s target (age ≤ 60 s): at L MB/s the age at
  // minute k is 60·k·(1 − L/2) while a backlog is left; L = 1.5 drains it exactly at minute 4
  // with 45 s at minute 3, anything less leaves minute 4 above 60 s. So 12 Mbit/s.
  const plan = burstPlan(8_000_000);
  const [advice] = plan.bandwidth;
  assert.equal(advice?.currentBitsPerSecond, 8_000_000);
  const least = advice?.leastBitsPerSecond ?? 0;
  assert.ok(least >= 12_000_000 && least <= 12_000_000 * 1.01, `12 Mbit/s (got ${least})`);
});

test('a compressing link: limits and advice in bytes on the wire, backlog and journal in bytes written', () => {
  // The 3-minute burst of 2 MB/s over a link that sends half the bytes it is given. A 4 Mbit/s
  // limit (0.5 MB/s on the wire) carries 1 MB/s of writes: the burst above the limit as
  // uncompressed over 8 Mbit/s, with its backlog in bytes written. The least bandwidth for a
  // 65 s target is half the uncompressed 12 Mbit/s.
  const plan = (wireShare?: number, bits = 4_000_000) => burstPlan(bits, wireShare);
  const half = plan(0.5);
  const plain = plan(undefined, 8_000_000);
  assert.deepEqual(
    rounded(half.vpgs[0]?.rpoSeconds ?? []),
    rounded(plain.vpgs[0]?.rpoSeconds ?? []),
  );
  assert.deepEqual(
    rounded(half.vpgs[0]?.backlogBytes ?? []),
    [60, 120, 180, 120, 60, 0, 0, 0, 0, 0].map((b) => b * MB),
  );
  assert.equal(half.vpgs[0]?.journal?.neededBytes, 240 * MB, 'the busiest 2 minutes, as written');
  assert.equal(half.vpgs[0]?.journal?.neededBytes, plain.vpgs[0]?.journal?.neededBytes);
  const [advice] = half.bandwidth;
  assert.equal(advice?.currentBitsPerSecond, 4_000_000, 'the limit as set, on the wire');
  const least = advice?.leastBitsPerSecond ?? 0;
  assert.ok(least >= 6_000_000 && least <= 6_000_000 * 1.01, `6 Mbit/s (got ${least})`);
  assert.throws(() => plan(0), /above 0 and at most 1/);
  assert.throws(() => plan(1.5), /above 0 and at most 1/);
});

test('no bandwidth helps when the checkpoint interval alone exceeds the target', () => {
  const plan = planLink({
    start: MONDAY,
    linkPolicy: policy({ default: { rpoTargetSeconds: 4 } }),
    graceSeconds: 60,
    vpgs: [
      {
        vpgId: 'v',
        name: 'Slow checkpoints',
        rates: [1 * MB, 1 * MB],
        rpoTargetSeconds: 4,
        checkpointIntervalSeconds: 10,
      },
    ],
  });
  assert.equal(plan.bandwidth[0]?.leastBitsPerSecond, undefined);
  assert.match(plan.bandwidth[0]?.reason ?? '', /checkpoint interval/);
});

test('the plan is deterministic', () => {
  const input = {
    start: MONDAY,
    linkPolicy: policy({ default: { rpoTargetSeconds: 65, replicationBitsPerSecond: 8_000_000 } }),
    graceSeconds: 60,
    vpgs: [
      {
        vpgId: 'v',
        name: 'V',
        rates: [3, 1, 0, 2].map((r) => r * MB),
        rpoTargetSeconds: 60,
        checkpointIntervalSeconds: I,
        journal: { historySeconds: 120, hardLimitBytes: 300 * MB },
      },
    ],
  };
  assert.deepEqual(planLink(input), planLink(input));
  // Journal: the busiest 2 minutes (wrapping: 2 + 3 MB/s) = 300 MB, just within the limit.
  assert.deepEqual(planLink(input).vpgs[0]?.journal, {
    neededBytes: 300 * MB,
    hardLimitBytes: 300 * MB,
    fits: true,
  });
});

test('a shared backlog drained leaves nothing behind: with the writes stopped, RPO is the interval again', async () => {
  const { default: fc } = await import('fast-check');
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0.1, max: 9, noNaN: true }), { minLength: 3, maxLength: 3 }),
      fc.double({ min: 1, max: 8, noNaN: true }),
      (peaks, linkMB) => {
        // A 20-step burst over the link, then nothing for longer than the link needs to drain it.
        const burst = peaks.map((p, v) => (p * MB * (v + 1)) / 3);
        const total = burst.reduce((a, b) => a + b, 0) * 20 * 60;
        const steps = 20 + Math.ceil(total / (linkMB * MB * 60)) + 5;
        const rates = burst.map((r) => Array.from({ length: steps }, (_, s) => (s < 20 ? r : 0)));
        const sim = simulate({
          rates,
          linkBytesPerSecond: new Array(steps).fill(linkMB * MB),
          vpgBytesPerSecond: rates.map(() => new Array(steps).fill(Infinity)),
          checkpointIntervalSeconds: [I, I, I],
          stepSeconds: 60,
          steps,
        });
        for (const rpo of sim.rpoSeconds) assert.equal(rpo[steps - 1], I);
      },
    ),
    { seed: 1205, numRuns: 300 },
  );
});

test('a backlog the timeframe before leaves: those minutes are unreachable, the least bandwidth holds the rest', () => {
  // 2 MB/s for 10 minutes over 1 MB/s in Business (00:00–00:10): at 00:10 the oldest unsent
  // byte is 300 s old; sent at once, the minute's worst is the 240 s of the last byte of the
  // 00:05 minute, above the default's 200 s target whatever the default's bandwidth.
  const plan = planLink({
    start: MONDAY,
    linkPolicy: policy({
      default: { rpoTargetSeconds: 200 },
      timeframes: [
        {
          id: 'business',
          name: 'Business',
          colour: '#1e88e5',
          days: [1],
          start: '00:00',
          end: '00:10',
          rpoTargetSeconds: 900,
          replicationBitsPerSecond: 8_000_000,
        },
      ],
    }),
    graceSeconds: 60,
    vpgs: [
      {
        vpgId: 'v',
        name: 'V',
        rates: Array.from({ length: 30 }, (_, s) => (s < 10 ? 2 * MB : 0)),
        rpoTargetSeconds: 300,
        checkpointIntervalSeconds: I,
      },
    ],
  });
  const rest = plan.bandwidth.find((b) => b.frame.timeframeId === undefined);
  assert.equal(rest?.unreachableSteps, 1);
  assert.equal(rest?.reason, undefined);
  // The 600 MB left go fast enough for the minutes after it (not "no bandwidth is enough").
  assert.ok((rest?.leastBitsPerSecond ?? 0) > 8 * MB);
});
