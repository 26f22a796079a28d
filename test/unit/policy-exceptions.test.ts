/**
 * Dated exceptions in calendar policies (issue 14): whole days in the policy's zone, taking
 * precedence over the weekly timeframes, correct on days of 23 and 25 hours.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planLink } from '../../app/planner';
import { policyInForce } from '../../app/policy/policy';
import type { DateException, Policy } from '../../app/policy/policy-schemas';

const H = 3_600_000;

function policy(timeZone: string, exceptions: DateException[]): Policy {
  return {
    schemaVersion: 2,
    version: 1,
    timeZone,
    default: { rpoTargetSeconds: 300 },
    timeframes: [
      {
        id: 'business',
        name: 'Business',
        colour: '#1e88e5',
        days: [1, 2, 3, 4, 5],
        start: '08:00',
        end: '18:00',
        rpoTargetSeconds: 60,
        replicationBitsPerSecond: 8_000_000,
      },
    ],
    exceptions,
  };
}

const exception = (over: Partial<DateException>): DateException => ({
  id: 'ex',
  name: 'Exception',
  colour: '#e53935',
  from: '2026-01-01',
  to: '2026-01-01',
  recurrence: 'once',
  rpoTargetSeconds: 1800,
  replicationBitsPerSecond: 100_000_000,
  ...over,
});

test('Berlin: an exception on the spring-forward Sunday lasts 23 hours, from local midnight', () => {
  const p = policy('Europe/Berlin', [exception({ from: '2026-03-29', to: '2026-03-29' })]);
  const f = policyInForce(p, Date.UTC(2026, 2, 29, 12));
  assert.equal(f.exceptionId, 'ex');
  assert.equal(f.rpoTargetSeconds, 1800);
  assert.equal(f.from, Date.UTC(2026, 2, 28, 23)); // 00:00 CET
  assert.equal(f.until, Date.UTC(2026, 2, 29, 22)); // 00:00 CEST
  assert.equal(f.until - f.from, 23 * H);
});

test('New York: an exception on the fall-back Sunday lasts 25 hours', () => {
  const p = policy('America/New_York', [exception({ from: '2026-11-01', to: '2026-11-01' })]);
  const f = policyInForce(p, Date.UTC(2026, 10, 1, 15));
  assert.equal(f.from, Date.UTC(2026, 10, 1, 4)); // 00:00 EDT
  assert.equal(f.until, Date.UTC(2026, 10, 2, 5)); // 00:00 EST
  assert.equal(f.until - f.from, 25 * H);
});

test('an exception overrides a weekday timeframe; the weekly stretches around it stop at its edges', () => {
  // Monday 2026-11-30 is a holiday: no Business hours that day.
  const p = policy('Europe/Berlin', [
    exception({ name: 'Holiday', from: '2026-11-30', to: '2026-11-30' }),
  ]);
  const monday10 = Date.UTC(2026, 10, 30, 9); // 10:00 CET
  const during = policyInForce(p, monday10);
  assert.equal(during.timeframeName, 'Holiday');
  assert.equal(during.replicationBitsPerSecond, 100_000_000);
  const sundayNight = policyInForce(p, Date.UTC(2026, 10, 29, 22)); // Sunday 23:00 CET
  assert.equal(sundayNight.timeframeName, 'Default');
  assert.equal(sundayNight.until, Date.UTC(2026, 10, 29, 23), 'until the holiday starts');
  const tuesday = policyInForce(p, Date.UTC(2026, 11, 1, 6)); // Tuesday 07:00 CET
  assert.equal(tuesday.timeframeName, 'Default');
  assert.equal(tuesday.from, Date.UTC(2026, 10, 30, 23), 'from the holiday’s end');
  assert.equal(tuesday.until, Date.UTC(2026, 11, 1, 7), 'until Business hours at 08:00');
  assert.equal(policyInForce(p, Date.UTC(2026, 11, 1, 9)).timeframeName, 'Business');
});

test('yearly and last-business-day exceptions', () => {
  const p = policy('Europe/Berlin', [
    exception({
      id: 'xmas',
      name: 'Christmas',
      from: '2025-12-24',
      to: '2025-12-26',
      recurrence: 'yearly',
    }),
    exception({
      id: 'close',
      name: 'Month end',
      from: '2026-01-01',
      to: '2027-12-31',
      recurrence: 'last-business-day',
    }),
  ]);
  const at = (y: number, m: number, d: number): string =>
    policyInForce(p, Date.UTC(y, m - 1, d, 11)).timeframeName;
  assert.equal(at(2026, 12, 25), 'Christmas');
  assert.equal(at(2027, 12, 24), 'Christmas');
  assert.equal(at(2026, 12, 27), 'Default'); // a Sunday
  assert.equal(at(2026, 10, 30), 'Month end'); // Friday, the last weekday of October 2026
  assert.equal(at(2026, 10, 29), 'Business');
  assert.equal(at(2026, 5, 29), 'Month end'); // Friday 29 May: the 30th and 31st are a weekend
  assert.equal(at(2028, 1, 31), 'Business', 'after the rule’s last day');
});

test('the planner follows an exception: a holiday without the Business limit lets a burst through', () => {
  const MB = 1e6;
  const start = Date.UTC(2026, 10, 30, 7); // Monday 08:00 CET, Business hours
  const rates = [2, 2, 2, 0, 0, 0].map((r) => r * MB);
  const vpg = { vpgId: 'v', name: 'V', rates, rpoTargetSeconds: 300, checkpointIntervalSeconds: 5 };
  const plain = planLink({
    start,
    graceSeconds: 60,
    linkPolicy: policy('Europe/Berlin', []),
    vpgs: [vpg],
  });
  assert.deepEqual(
    Array.from(plain.vpgs[0]?.rpoSeconds ?? []).map(Math.round),
    [35, 65, 95, 125, 155, 185], // the burst's last byte (180 s) goes at 360 s
  );
  const holiday = planLink({
    start,
    graceSeconds: 60,
    linkPolicy: policy('Europe/Berlin', [exception({ from: '2026-11-30', to: '2026-11-30' })]),
    vpgs: [vpg],
  });
  assert.deepEqual(
    Array.from(holiday.vpgs[0]?.rpoSeconds ?? []).map(Math.round),
    [5, 5, 5, 5, 5, 5],
  );
  assert.equal(holiday.vpgs[0]?.timeframes[0]?.frame.name, 'Exception');
});

test('the planner keeps an exception apart from the default: its own forecast and bandwidth advice', () => {
  const start = Date.UTC(2026, 10, 30, 22, 57); // Monday 23:57 CET: 3 minutes of the holiday
  const vpg = {
    vpgId: 'v',
    name: 'V',
    rates: new Array(6).fill(1e6),
    rpoTargetSeconds: 300,
    checkpointIntervalSeconds: 5,
  };
  const plan = planLink({
    start,
    graceSeconds: 60,
    linkPolicy: policy('Europe/Berlin', [exception({ from: '2026-11-30', to: '2026-11-30' })]),
    vpgs: [vpg],
  });
  const parts = (plan.vpgs[0]?.timeframes ?? []).map((t) => [
    t.frame.name,
    t.steps,
    t.rpoTargetSeconds,
  ]);
  assert.deepEqual(parts, [
    ['Exception', 3, 1800],
    ['Default', 3, 300],
  ]);
  assert.deepEqual(
    plan.bandwidth.map((b) => [b.frame.exceptionId, b.frame.name, b.currentBitsPerSecond]),
    [
      ['ex', 'Exception', 100_000_000],
      [undefined, 'Default', undefined],
    ],
  );
});
