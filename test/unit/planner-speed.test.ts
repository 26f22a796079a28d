/**
 * The planner's speed-ups change no result (app/planner/README.md, Speed): the model's
 * shortcuts against a plain step-every-VPG oracle, bit for bit; the one-queue bound against
 * the model; the least-bandwidth search against a plain full-simulation binary search; the
 * percentile by selection against a sort.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { percentile, planLink, simulate, type SimInput, type SimResult } from '../../app/planner';
import { FluidModel } from '../../app/planner/fluid-queue';
import { resolveLimits } from '../../app/planner/step-limits';
import type { Policy } from '../../app/policy/policy-schemas';

const MB = 1e6;
/** Monday 2026-11-30 00:00 UTC. */
const MONDAY = Date.UTC(2026, 10, 30);
const SEED = 1205;

/**
 * The model as README.md states it, stepping every VPG every step (the planner's code before
 * its shortcuts): the oracle. Same float operations in the same order.
 */
function oracle(input: SimInput): SimResult & { stopped: boolean } {
  const { steps, stepSeconds } = input;
  const n = input.rates.length;
  const queues = Array.from(
    { length: n },
    () => [] as { step: number; left: number; size: number }[],
  );
  const backlog = new Array<number>(n).fill(0);
  const rpo = Array.from({ length: n }, () => new Float64Array(steps));
  const held = Array.from({ length: n }, () => new Float64Array(steps));
  const end = Array.from({ length: n }, () => new Float64Array(steps));
  const at = (list: ArrayLike<number>, s: number): number => list[s] as number;
  for (let pass = 0; pass < 2; pass++) {
    for (let s = 0; s < steps; s++) {
      const g = pass * steps + s;
      const arrived: number[] = [];
      const demand: number[] = [];
      const send = new Array<number>(n).fill(0);
      let total = 0;
      for (let v = 0; v < n; v++) {
        const a = at(input.rates[v] ?? [], s) * stepSeconds;
        arrived.push(a);
        backlog[v] = (backlog[v] ?? 0) + a;
        const d = Math.min(backlog[v] ?? 0, at(input.vpgBytesPerSecond[v] ?? [], s) * stepSeconds);
        demand.push(d);
        total += d;
      }
      const link = at(input.linkBytesPerSecond, s) * stepSeconds;
      if (total <= link) demand.forEach((d, v) => (send[v] = d));
      else {
        const active = demand.flatMap((d, v) => (d > 0 ? [v] : []));
        let remaining = link;
        while (active.length > 0 && remaining > 0) {
          let weight = 0;
          for (const v of active) weight += backlog[v] ?? 0;
          let capped = false;
          for (let i = active.length - 1; i >= 0; i--) {
            const v = active[i] ?? 0;
            const want = (demand[v] ?? 0) - (send[v] ?? 0);
            if ((remaining * (backlog[v] ?? 0)) / weight >= want) {
              send[v] = demand[v] ?? 0;
              remaining -= want;
              active.splice(i, 1);
              capped = true;
            }
          }
          if (capped) continue;
          for (const v of active)
            send[v] = (send[v] ?? 0) + (remaining * (backlog[v] ?? 0)) / weight;
          remaining = 0;
        }
      }
      const sum = send.reduce((x, y) => x + y, 0);
      for (let v = 0; v < n; v++) {
        const queue = queues[v] ?? [];
        const sent = send[v] ?? 0;
        const capacity = Math.min(
          link - (sum - sent),
          at(input.vpgBytesPerSecond[v] ?? [], s) * stepSeconds,
        );
        const ageOf = (q: { step: number; left: number; size: number }, t: number): number =>
          t - (q.step + (1 - q.left / q.size)) * stepSeconds;
        // The worst age of the step: at each segment's last byte, at its end.
        let crossed = 0;
        let rest = sent;
        while (rest > 0 && queue.length > 0) {
          const head = queue[0] as { step: number; left: number };
          if (head.left <= rest) {
            rest -= head.left;
            const t = g * stepSeconds + stepSeconds * Math.min(1, (sent - rest) / capacity);
            crossed = Math.max(crossed, t - (head.step + 1) * stepSeconds);
            queue.shift();
          } else {
            const after = head.left - rest;
            rest = 0;
            if (after <= 1e-6) queue.shift();
            else head.left = after;
          }
        }
        const a = arrived[v] ?? 0;
        if (a > 0) {
          const unsent = a - Math.min(a, rest);
          if (unsent > 1e-6) queue.push({ step: g, left: unsent, size: a });
        }
        let b = queue.length === 0 ? 0 : Math.max(0, (backlog[v] ?? 0) - (send[v] ?? 0));
        if (queue.length > 0 && b <= 1e-10 * (send[v] ?? 0)) queue.length = 0; // a remnant
        if (queue.length === 0) b = 0;
        backlog[v] = b;
        const oldest = queue[0];
        const age = oldest === undefined ? 0 : ageOf(oldest, (g + 1) * stepSeconds);
        const value = Math.max(crossed, age) + (input.checkpointIntervalSeconds[v] ?? 0);
        (rpo[v] as Float64Array)[s] = value;
        (end[v] as Float64Array)[s] = age + (input.checkpointIntervalSeconds[v] ?? 0);
        (held[v] as Float64Array)[s] = b;
        const stop = input.stopAbove;
        if (
          stop !== undefined &&
          stop.steps[s] === 1 &&
          value > at(stop.targets[v] ?? [], s) + 1e-9
        ) {
          return { rpoSeconds: rpo, endRpoSeconds: end, backlogBytes: held, stopped: true };
        }
      }
    }
    if (backlog.every((b) => b === 0)) break;
  }
  return { rpoSeconds: rpo, endRpoSeconds: end, backlogBytes: held, stopped: false };
}

/** Rates in MB/s: quiet steps, steady ones and bursts, with some zero minutes. */
const rate = fc.oneof(
  fc.constant(0),
  fc.double({ min: 0.01, max: 1, noNaN: true }),
  fc.double({ min: 1, max: 8, noNaN: true }),
);
const limit = fc.oneof(fc.constant(Infinity), fc.double({ min: 0.2, max: 6, noNaN: true }));

/** A small link: 1–6 VPGs over 2–60 steps, link and own limits per step, some targets. */
const simInputs = fc
  .record({ n: fc.integer({ min: 1, max: 6 }), steps: fc.integer({ min: 2, max: 60 }) })
  .chain(({ n, steps }) =>
    fc.record({
      rates: fc.array(fc.array(rate, { minLength: steps, maxLength: steps }), {
        minLength: n,
        maxLength: n,
      }),
      link: fc.array(limit, { minLength: steps, maxLength: steps }),
      own: fc.array(
        fc.oneof(
          fc.constant(new Array<number>(steps).fill(Infinity)),
          fc.array(limit, { minLength: steps, maxLength: steps }),
        ),
        { minLength: n, maxLength: n },
      ),
      interval: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: n, maxLength: n }),
      target: fc.array(fc.integer({ min: 20, max: 400 }), { minLength: n, maxLength: n }),
      checked: fc.array(fc.boolean(), { minLength: steps, maxLength: steps }),
    }),
  )
  .map((c) => {
    const steps = c.link.length;
    const input: SimInput = {
      rates: c.rates.map((r) => r.map((x) => x * MB)),
      linkBytesPerSecond: c.link.map((x) => x * MB),
      vpgBytesPerSecond: c.own.map((o) => o.map((x) => x * MB)),
      checkpointIntervalSeconds: c.interval,
      stepSeconds: 60,
      steps,
    };
    const stopAbove = {
      targets: c.target.map((t) => new Float64Array(steps).fill(t)),
      steps: Uint8Array.from(c.checked, (b) => (b ? 1 : 0)),
    };
    return { input, stopAbove };
  });

const bits = (curves: readonly Float64Array[]): number[][] =>
  curves.map((c) => Array.from(new Uint32Array(c.buffer, c.byteOffset, c.length * 2)));

test('the model with its shortcuts gives exactly what stepping every VPG gives', () => {
  fc.assert(
    fc.property(simInputs, ({ input, stopAbove }) => {
      const fast = simulate(input);
      const plain = oracle(input);
      assert.deepEqual(bits(fast.rpoSeconds), bits(plain.rpoSeconds));
      assert.deepEqual(bits(fast.endRpoSeconds), bits(plain.endRpoSeconds));
      assert.deepEqual(bits(fast.backlogBytes), bits(plain.backlogBytes));
      // The same model reused for runs that stop (as a search does) stops where the oracle does.
      const model = new FluidModel(input);
      for (let i = 0; i < 2; i++) {
        const run = model.run(input.linkBytesPerSecond, { record: false, stopAbove });
        assert.equal(run.stopped, oracle({ ...input, stopAbove }).stopped);
      }
    }),
    { seed: SEED, numRuns: 400 },
  );
});

test('the one-queue bound never rules out a link bandwidth the model accepts', () => {
  fc.assert(
    fc.property(simInputs, fc.double({ min: 0.05, max: 10, noNaN: true }), (c, mbps) => {
      const { input, stopAbove } = c;
      // The searched timeframe: the checked steps, at this bandwidth.
      const link = Array.from(input.linkBytesPerSecond, (x, s) =>
        stopAbove.steps[s] === 1 ? mbps * MB : x,
      );
      const model = new FluidModel(input);
      if (model.surelyStops(link, stopAbove)) {
        assert.equal(oracle({ ...input, linkBytesPerSecond: link, stopAbove }).stopped, true);
      }
    }),
    { seed: SEED, numRuns: 400 },
  );
});

/** The search as it was: full runs of the model only, bisection from [0, enough]. */
function plainLeastBandwidth(input: Parameters<typeof planLink>[0], f: number): number | undefined {
  const steps = input.vpgs[0]?.rates.length ?? 0;
  const limits = resolveLimits(input, steps);
  const mask = Uint8Array.from(limits.linkFrame, (x) => (x === f ? 1 : 0));
  const holds = (bytesPerSecond: number): boolean => {
    const link = Array.from(limits.linkBytesPerSecond, (x, s) =>
      mask[s] === 1 ? bytesPerSecond : x,
    );
    return !simulate({
      rates: input.vpgs.map((v) => v.rates),
      linkBytesPerSecond: link,
      vpgBytesPerSecond: limits.vpgBytesPerSecond,
      checkpointIntervalSeconds: input.vpgs.map((v) => v.checkpointIntervalSeconds),
      stepSeconds: 60,
      steps,
      stopAbove: { targets: limits.rpoTargetSeconds, steps: mask },
    }).stopped;
  };
  if (!holds(Infinity)) return undefined;
  let high = 1;
  for (const vpg of input.vpgs) high += Math.max(0, ...Array.from(vpg.rates));
  while (!holds(high)) high *= 2;
  let low = 0;
  for (let round = 0; round < 40 && high - low > high * 0.005; round++) {
    const mid = (low + high) / 2;
    if (holds(mid)) high = mid;
    else low = mid;
  }
  return Math.ceil(high * 8);
}

test('the least bandwidth is the plain full-simulation search’s, within the 0.5% precision', () => {
  // One day at one-minute steps: business hours (08–18, 5-minute target), the rest 15 minutes.
  const policy: Policy = {
    schemaVersion: 1,
    version: 1,
    timeZone: 'UTC',
    default: { rpoTargetSeconds: 900, replicationBitsPerSecond: 400_000_000 },
    timeframes: [
      {
        id: 'business',
        name: 'Business',
        colour: '#1e88e5',
        days: [1],
        start: '08:00',
        end: '18:00',
        rpoTargetSeconds: 300,
        replicationBitsPerSecond: 200_000_000,
      },
    ],
  };
  const vpg = fc.record({
    peak: fc.double({ min: 1, max: 10, noNaN: true }),
    burstAt: fc.integer({ min: 0, max: 1380 }),
    burstMinutes: fc.integer({ min: 5, max: 90 }),
    office: fc.double({ min: 0.05, max: 0.7, noNaN: true }),
    noise: fc.array(fc.double({ min: 0.8, max: 1.2, noNaN: true }), {
      minLength: 24,
      maxLength: 24,
    }),
    interval: fc.integer({ min: 1, max: 30 }),
  });
  fc.assert(
    fc.property(fc.array(vpg, { minLength: 1, maxLength: 6 }), (vpgs) => {
      const input = {
        start: MONDAY,
        linkPolicy: policy,
        graceSeconds: 300,
        vpgs: vpgs.map((p, v) => ({
          vpgId: `v${v}`,
          name: `V${v}`,
          rpoTargetSeconds: 300,
          checkpointIntervalSeconds: p.interval,
          rates: Array.from({ length: 1440 }, (_, m) => {
            const level =
              m >= p.burstAt && m < p.burstAt + p.burstMinutes
                ? 1
                : m >= 480 && m < 1080
                  ? p.office
                  : 0.05;
            return level * p.peak * MB * (p.noise[Math.floor(m / 60)] ?? 1);
          }),
        })),
      };
      const plan = planLink(input);
      plan.bandwidth.forEach((advice, f) => {
        const plain = plainLeastBandwidth(input, f);
        if (plain === undefined) {
          assert.equal(advice.leastBitsPerSecond, undefined);
          return;
        }
        const ratio = (advice.leastBitsPerSecond ?? 0) / plain;
        assert.ok(ratio > 0.9949 && ratio < 1.0051, `${advice.frame.name}: ${ratio}`);
      });
    }),
    { seed: SEED, numRuns: 25 },
  );
});

test('the 95th percentile by selection is the sorted nearest rank', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(fc.integer({ min: 0, max: 5 }), fc.double({ min: 0, max: 1e5, noNaN: true })),
        {
          maxLength: 300,
        },
      ),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (values, p) => {
        const sorted = [...values].sort((a, b) => a - b);
        const rank = Math.max(1, Math.ceil(p * sorted.length));
        assert.equal(percentile(values, p), values.length === 0 ? 0 : sorted[rank - 1]);
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});
