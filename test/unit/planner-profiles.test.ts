import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TidelineError } from '../../app/errors';
import {
  MINUTES_PER_WEEK,
  PROFILE_TEMPLATES,
  measuredProfile,
  parseRatesCsv,
  templateProfile,
} from '../../app/planner';

const MB = 1e6;
const minute = (day: number, h: number, m = 0): number => day * 1440 + h * 60 + m;

test('templates: a week of minutes, peaking at the peak the admin typed', () => {
  for (const template of PROFILE_TEMPLATES) {
    const rates = templateProfile(template, 40 * MB);
    assert.equal(rates.length, MINUTES_PER_WEEK);
    assert.equal(Math.max(...rates), 40 * MB, template);
    assert.ok(Math.min(...rates) >= 0);
  }
  const db = templateProfile('database-nightly-backup', 10 * MB);
  assert.equal(db[minute(2, 2, 30)], 10 * MB, 'the nightly backup spike, every night');
  assert.equal(db[minute(6, 2, 30)], 10 * MB);
  const vdi = templateProfile('vdi', 10 * MB);
  assert.equal(vdi[minute(0, 8)], 10 * MB, 'Monday’s boot storm');
  assert.ok((vdi[minute(5, 8)] ?? 1) < 1 * MB, 'no boot storm on Saturday');
});

test('CSV: one value per line from Monday 00:00, in MB/s', () => {
  const csv = ['MB/s', ...Array.from({ length: MINUTES_PER_WEEK }, (_, i) => String(i % 7))];
  const { rates, filledMinutes } = parseRatesCsv(csv.join('\n'));
  assert.equal(filledMinutes, 0);
  assert.equal(rates[0], 0);
  assert.equal(rates[8], 1 * MB);
});

test('CSV: timed rows; minutes not given repeat the value before them (wrapping)', () => {
  const { rates, filledMinutes } = parseRatesCsv('time,MB/s\nMon 08:00,12.5\nMon 18:00,1\n');
  assert.equal(rates[minute(0, 8)], 12.5 * MB);
  assert.equal(rates[minute(0, 17, 59)], 12.5 * MB);
  assert.equal(rates[minute(0, 18)], 1 * MB);
  assert.equal(rates[minute(0, 7)], 1 * MB, 'Monday early takes Sunday’s last value');
  assert.equal(filledMinutes, MINUTES_PER_WEEK - 2);
});

test('CSV: problems are listed with their lines, nothing is guessed', () => {
  assert.throws(
    () => parseRatesCsv('time,MB/s\nMon 08:00,abc\nFunday 09:00,3\nTue 25:00,1\n-4\n'),
    (err: unknown) => {
      assert.ok(err instanceof TidelineError);
      assert.equal(err.code, 'INVALID_PARAMS');
      assert.match(err.message, /line 2: "abc" is not a number/);
      assert.match(err.message, /line 3: "Funday 09:00" is not a time/);
      assert.match(err.message, /line 4: "Tue 25:00" is not a time/);
      assert.match(err.message, /line 5: -4 MB\/s is out of range/);
      return true;
    },
  );
  assert.throws(() => parseRatesCsv('\n\n'), /has no rates/);
});

test('measured: a 1-minute history becomes a week from Monday 00:00 in the site zone', () => {
  // Monday 2026-11-30 08:00 in Berlin is 07:00 UTC; two weeks of the same minute average.
  const monday8 = Date.UTC(2026, 10, 30, 7);
  const week = 7 * 86_400_000;
  const { rates, measuredMinutes } = measuredProfile(
    [
      { time: monday8, writtenBytesPerSecond: 10 * MB },
      { time: monday8 + week, writtenBytesPerSecond: 20 * MB },
      { time: monday8 + 60_000, writtenBytesPerSecond: 4 * MB },
    ],
    'Europe/Berlin',
  );
  assert.equal(measuredMinutes, 2);
  assert.equal(rates[minute(0, 8)], 15 * MB, 'the mean of the two Mondays');
  assert.equal(rates[minute(0, 8, 1)], 4 * MB);
  assert.equal(rates[minute(0, 9)], 4 * MB, 'unmeasured minutes repeat the one before');
  assert.equal(rates[minute(0, 7)], 4 * MB, 'wrapping from the end of the week');
});
