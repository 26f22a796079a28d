import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../helpers/seeded-random';
import { policyInForce, validatePolicy } from '../../app/policy/policy';
import type { InForce, Policy, Timeframe } from '../../app/policy/policy-schemas';

/*
 * Property: for every minute of a whole year exactly one timeframe (or the default) is in
 * force, and it is the one an independent oracle expects; `from`/`until` are exactly where the
 * oracle's answer changes. The oracle uses Intl directly (not luxon) and its own weekly grid,
 * and spells out the DST rule: in the repeated hour of a fall-back change, what is in force is
 * what the wall clock showed just before the change (boundaries there took their first
 * occurrence); in a spring-forward gap nothing special is needed.
 */

const MIN = 60_000;
const WEEK_MIN = 7 * 1440;

const hhmm = (m: number): string =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** A valid policy of random, non-overlapping timeframes; times favour the DST hours. */
function randomPolicy(seed: number, timeZone: string): Policy {
  const rand = seededRandom(seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  const policy: Policy = {
    schemaVersion: 1,
    version: 1,
    timeZone,
    default: { rpoTargetSeconds: 300 },
    timeframes: [],
  };
  for (let attempt = 0; attempt < 60 && policy.timeframes.length < 8; attempt++) {
    // The first one starts at 01:xx and ends at 02:xx on Sundays: boundaries inside the DST
    // gap and fold of both Europe (02:00–03:00) and North America (01:00–02:00, 02:00–03:00).
    const forced = attempt === 0;
    const startMin = forced ? 60 + pick(6) * 10 : rand() < 0.4 ? 60 + pick(13) * 10 : pick(96) * 15;
    const length = forced
      ? 120 + pick(6) * 10 - startMin
      : 10 + pick(20) * 30 + (rand() < 0.2 ? pick(60) : 0);
    const endMin = (startMin + length) % 1440;
    const days = [
      ...new Set([
        ...(forced ? [7] : []),
        ...Array.from({ length: 1 + pick(5) }, () => 1 + pick(7)),
      ]),
    ];
    const tf: Timeframe = {
      id: `tf${attempt}`,
      name: `Timeframe ${attempt}`,
      colour: '#336699',
      days,
      start: hhmm(startMin),
      end: endMin === 0 && rand() < 0.5 ? '24:00' : hhmm(endMin),
      rpoTargetSeconds: 1 + attempt,
    };
    const next = { ...policy, timeframes: [...policy.timeframes, tf] };
    if (validatePolicy(next).policy !== undefined) policy.timeframes.push(tf);
  }
  return policy;
}

/** Owner index per minute of the week (0 = Monday 00:00), -1 for the default. */
function oracleGrid(policy: Policy): Int16Array {
  const grid = new Int16Array(WEEK_MIN).fill(-1);
  policy.timeframes.forEach((tf, index) => {
    const [sh, sm] = tf.start.split(':').map(Number);
    const [eh, em] = tf.end.split(':').map(Number);
    const s = (sh ?? 0) * 60 + (sm ?? 0);
    const e = (eh ?? 0) * 60 + (em ?? 0);
    const length = e > s ? e - s : e + 1440 - s;
    for (const d of tf.days) {
      for (let i = 0; i < length; i++) grid[((d - 1) * 1440 + s + i) % WEEK_MIN] = index;
    }
  });
  return grid;
}

/** UTC offset in minutes for each minute of [start, start + minutes), straight from Intl. */
function offsets(timeZone: string, start: number, minutes: number): Int16Array {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  });
  const offsetAt = (t: number): number => {
    const p = Object.fromEntries(fmt.formatToParts(t).map((x) => [x.type, Number(x.value)]));
    const wall = Date.UTC(p.year ?? 0, (p.month ?? 1) - 1, p.day, p.hour, p.minute);
    return Math.round((wall - t) / MIN);
  };
  const out = new Int16Array(minutes);
  for (let h = 0; h < minutes; h += 60) {
    const a = offsetAt(start + h * MIN);
    const b = offsetAt(start + Math.min(h + 60, minutes - 1) * MIN);
    for (let m = h; m < Math.min(h + 60, minutes); m++) {
      out[m] = a === b ? a : offsetAt(start + m * MIN);
    }
  }
  return out;
}

/** Expected owner for each minute of the sweep. */
function oracle(
  policy: Policy,
  start: number,
  minutes: number,
): { owners: Int16Array; nearChange: Uint8Array } {
  const grid = oracleGrid(policy);
  const off = offsets(policy.timeZone, start, minutes);
  const minuteOfWeek = (wallMin: number): number => {
    const day = new Date(wallMin * MIN).getUTCDay(); // 0 = Sunday
    return ((day + 6) % 7) * 1440 + (((wallMin % 1440) + 1440) % 1440);
  };
  const out = new Int16Array(minutes);
  const nearChange = new Uint8Array(minutes); // within a day of a DST change
  let foldUntil = -1; // sweep index where the current repeated period ends
  let foldWall = 0; // the wall minute whose owner holds during it
  for (let m = 0; m < minutes; m++) {
    const o = off[m] ?? 0;
    const prev = m > 0 ? (off[m - 1] ?? o) : o;
    const t = start / MIN + m;
    if (o !== prev) nearChange.fill(1, Math.max(0, m - 1440), m + 1440);
    if (o < prev) {
      foldUntil = m + (prev - o);
      foldWall = t + prev - 1; // the last wall minute before the change
    }
    const wall = m < foldUntil ? foldWall : t + o;
    out[m] = grid[minuteOfWeek(wall)] ?? -1;
  }
  return { owners: out, nearChange };
}

const ownerOf = (p: Policy, r: InForce): number =>
  r.timeframeId === undefined ? -1 : p.timeframes.findIndex((tf) => tf.id === r.timeframeId);

function sweep(seed: number, timeZone: string): { stretches: number; calls: number } {
  const policy = randomPolicy(seed, timeZone);
  assert.ok(policy.timeframes.length >= 2, `seed ${seed}: generator made too few timeframes`);
  const start = Date.UTC(2024, 11, 31); // a day of margin either side of 2025
  const minutes = 367 * 1440;
  const { owners: expected, nearChange } = oracle(policy, start, minutes);
  const rand = seededRandom(seed ^ 0x5eed);
  let calls = 0;
  const call = (m: number): InForce => {
    calls++;
    return policyInForce(policy, start + m * MIN);
  };
  let r = call(0);
  let stretches = 1;
  const where = (m: number): string =>
    `seed ${seed} ${timeZone} at ${new Date(start + m * MIN).toISOString()} (${JSON.stringify(policy.timeframes.map((tf) => [tf.days, tf.start, tf.end]))})`;
  for (let m = 0; m < minutes; m++) {
    const t = start + m * MIN;
    if (t >= r.until) {
      // `until` is a real change, unless the stretch was cut at the evaluation horizon.
      const prev = r;
      r = call(m);
      stretches++;
      assert.equal(r.from, prev.until, `from is where the last stretch ended, ${where(m)}`);
      if (ownerOf(policy, r) === ownerOf(policy, prev)) {
        assert.ok(prev.until - prev.from >= 7 * 1440 * MIN, `a change that is none, ${where(m)}`);
      }
      // The stretch seen from its last minute and from a random one inside is the same.
      const last = Math.min(Math.ceil((r.until - start) / MIN) - 1, minutes - 1);
      for (const probe of [last, m + Math.floor(rand() * (last - m + 1))]) {
        const q = call(probe);
        assert.deepEqual([q.from, q.until, q.timeframeId], [r.from, r.until, r.timeframeId]);
      }
    } else if (m % 97 === 0 || nearChange[m] === 1) {
      // Every minute around DST changes, a sample elsewhere (each call is ~15 µs).
      const q = call(m);
      assert.deepEqual([q.from, q.until, q.timeframeId], [r.from, r.until, r.timeframeId]);
    }
    // Messages built only on failure: this runs for every minute of the year.
    if (!(r.from <= t && t < r.until)) assert.fail(`outside its own stretch, ${where(m)}`);
    const owner = ownerOf(policy, r);
    if (owner !== expected[m]) {
      assert.fail(`owner ${owner}, expected ${expected[m]}, ${where(m)}`);
    }
  }
  return { stretches, calls };
}

describe('policyInForce property: a whole year, minute by minute', () => {
  const cases: [number, string][] = [
    [1, 'Europe/Berlin'],
    [2, 'America/New_York'],
    [3, 'Europe/Berlin'],
    [4, 'America/New_York'],
    [5, 'Australia/Lord_Howe'], // a 30-minute DST change
    [6, 'UTC'],
  ];
  for (const [seed, zone] of cases) {
    it(`seed ${seed}, ${zone}`, () => {
      const { stretches } = sweep(seed, zone);
      assert.ok(stretches > 100, `a varied policy changes often (${stretches} stretches)`);
    });
  }
});
