import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { TidelineError } from '../../app/errors';
import {
  METRICS_MINUTE_RETENTION_MS,
  MetricsHistorySchema,
} from '../../app/metrics/metrics-schemas';
import { MetricsHistory, type MetricsSample } from '../../agent/metrics/metrics-history';

const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });
const VPG = '3f1c2a9e-0000-4000-8000-000000000001';
const MIN = 60_000;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** A minute boundary, so minute arithmetic in the tests is plain. */
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A history on a fake clock in a fresh directory. */
async function fresh(options: { compactSlackLines?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-metrics-'));
  dirs.push(dir);
  const clock = { now: T0 };
  const open = async (): Promise<MetricsHistory> => {
    const h = new MetricsHistory({ dir, log, now: () => clock.now, ...options });
    await h.load();
    return h;
  };
  return { dir, clock, history: await open(), open };
}

function sample(time: number, extra: Partial<MetricsSample> = {}): MetricsSample {
  return {
    vpgId: VPG,
    time,
    rpoSeconds: 3,
    rpoTargetSeconds: 10,
    writtenBytesPerSecond: 1000,
    sentBytesPerSecond: 900,
    backlogBytes: 4096,
    journalBytes: 1 << 20,
    ...extra,
  };
}

function query(h: MetricsHistory, q: Parameters<MetricsHistory['query']>[1] = {}) {
  return MetricsHistorySchema.parse(h.query(VPG, q));
}

function invalidParams(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof TidelineError);
    assert.equal(err.code, 'INVALID_PARAMS');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('metrics history: seconds', () => {
  it('keeps one point per second, without the tick’s vpgId/status/limit, RPO absent until known', async () => {
    const { clock, history } = await fresh();
    for (let i = 0; i < 5; i++) {
      history.record({
        ...sample(T0 + i * 1000 + 3, i === 0 ? { rpoSeconds: undefined } : {}),
        writtenBytesPerSecond: 100 * i,
      });
    }
    clock.now = T0 + 5000;
    const result = query(history);
    assert.equal(result.resolution, 'second');
    assert.equal(result.to, clock.now);
    assert.equal(result.from, clock.now - HOUR);
    assert.deepEqual(
      result.points.map((p) => p.time),
      [0, 1, 2, 3, 4].map((i) => T0 + i * 1000),
    );
    assert.equal(result.points[0]?.rpoSeconds, undefined);
    assert.deepEqual(result.points[3], {
      time: T0 + 3000,
      rpoSeconds: 3,
      rpoTargetSeconds: 10,
      writtenBytesPerSecond: 300,
      sentBytesPerSecond: 900,
      backlogBytes: 4096,
      journalBytes: 1 << 20,
    });
    // A sub-range: from inside second 1 to second 3.
    const part = query(history, { from: T0 + 1500, to: T0 + 3000 });
    assert.deepEqual(
      part.points.map((p) => p.time),
      [T0 + 1000, T0 + 2000, T0 + 3000],
    );
  });

  it('holds the last hour only: older seconds are overwritten, and asking for them is INVALID_PARAMS', async () => {
    const { clock, history } = await fresh();
    const seconds = 3600 + 120;
    for (let i = 0; i < seconds; i++) history.record(sample(T0 + i * 1000, { backlogBytes: i }));
    clock.now = T0 + seconds * 1000;
    const result = query(history, { resolution: 'second' });
    assert.equal(result.points.length, 3600);
    assert.equal(result.points[0]?.time, T0 + 120_000);
    assert.equal(result.points[0]?.backlogBytes, 120);
    assert.equal(result.points.at(-1)?.backlogBytes, seconds - 1);
    invalidParams(
      () => history.query(VPG, { from: clock.now - 2 * HOUR, resolution: 'second' }),
      /last hour only.*resolution "minute"/,
    );
    // A gap (no ticks while the agent was down) stays a gap.
    clock.now += 30_000;
    history.record(sample(clock.now));
    const after = query(history, { from: clock.now - 40_000 });
    assert.deepEqual(
      after.points.map((p) => p.time),
      [...Array.from({ length: 10 }, (_, i) => T0 + (seconds - 10 + i) * 1000), clock.now],
    );
  });
});

describe('metrics history: minutes', () => {
  it('aggregates a minute: worst RPO and backlog, mean rates, last target and journal use', async () => {
    const { clock, history } = await fresh();
    for (let i = 0; i < 60; i++) {
      history.record(
        sample(T0 + i * 1000, {
          rpoSeconds: i === 17 ? 42 : 2,
          backlogBytes: i === 30 ? 9_000_000 : 100,
          writtenBytesPerSecond: i < 30 ? 0 : 2000, // mean 1000
          sentBytesPerSecond: i, // mean 29.5
          journalBytes: 1000 + i,
          rpoTargetSeconds: i < 59 ? 10 : 20,
        }),
      );
    }
    history.record(sample(T0 + MIN, { rpoSeconds: undefined }));
    clock.now = T0 + MIN + 500;
    const result = query(history, { resolution: 'minute' });
    assert.equal(result.from, clock.now - DAY);
    assert.deepEqual(result.points, [
      {
        time: T0,
        rpoSeconds: 42,
        rpoTargetSeconds: 20,
        writtenBytesPerSecond: 1000,
        sentBytesPerSecond: 29.5,
        backlogBytes: 9_000_000,
        journalBytes: 1059,
      },
      // The minute in progress is shown as far as it goes; no RPO known in it yet.
      {
        time: T0 + MIN,
        rpoTargetSeconds: 10,
        writtenBytesPerSecond: 1000,
        sentBytesPerSecond: 900,
        backlogBytes: 4096,
        journalBytes: 1 << 20,
      },
    ]);
  });

  it('keeps 7 days of minutes in memory and on disk, compacting the file as old minutes leave', async () => {
    const { dir, clock, history, open } = await fresh({ compactSlackLines: 500 });
    const minutes = 8 * 24 * 60;
    for (let m = 0; m < minutes; m++) {
      clock.now = T0 + m * MIN;
      history.record(sample(clock.now, { backlogBytes: m }));
      history.record(sample(clock.now + 30_000, { backlogBytes: m }));
    }
    clock.now = T0 + minutes * MIN;
    history.record(sample(clock.now, { backlogBytes: minutes })); // closes the last full minute
    await history.flush();

    const week = query(history, { from: clock.now - METRICS_MINUTE_RETENTION_MS });
    assert.equal(week.resolution, 'minute');
    assert.equal(week.points.length, 7 * 24 * 60 + 1); // the week, plus the minute in progress
    assert.equal(week.points[0]?.time, clock.now - METRICS_MINUTE_RETENTION_MS);
    assert.equal(week.points.at(-1)?.backlogBytes, minutes);
    for (let i = 1; i < week.points.length; i++) {
      assert.equal(
        (week.points[i]?.time ?? 0) - (week.points[i - 1]?.time ?? 0),
        MIN,
        'one point per minute',
      );
    }
    invalidParams(() => history.query(VPG, { from: clock.now - 8 * DAY }), /kept for 7 days/);

    const [file] = await readdir(dir);
    assert.equal(file, `${VPG}.ndjson`);
    const lines = (await readFile(join(dir, file), 'utf8')).trimEnd().split('\n');
    assert.ok(lines.length <= 7 * 24 * 60 + 2 + 500, `compacted: ${lines.length} lines`);
    assert.ok(lines.length < minutes, `old minutes left the file: ${lines.length} lines`);

    const reopened = await open();
    const again = query(reopened, { from: clock.now - METRICS_MINUTE_RETENTION_MS });
    assert.deepEqual(
      again.points,
      week.points.slice(0, -1),
      'the same minutes after a restart (the minute in progress was not written: no clean stop)',
    );
  });

  it('survives a restart: the partial minute is written at stop and resumed, a torn last line is cut', async () => {
    const { dir, clock, history, open } = await fresh();
    // Minute 0 complete, then 20 s of minute 1 with a bad RPO, then a clean stop.
    for (let i = 0; i < 60 + 20; i++) {
      history.record(
        sample(T0 + i * 1000, { rpoSeconds: i === 70 ? 30 : 2, writtenBytesPerSecond: 600 }),
      );
    }
    clock.now = T0 + 80_000;
    await history.stop();
    const file = join(dir, `${VPG}.ndjson`);
    // A crash in the middle of a later append: half a line, no newline.
    await appendFile(file, '{"time":1767614520000,"rpoSec');

    const reopened = await open();
    const loaded = query(reopened, { resolution: 'minute' });
    assert.deepEqual(
      loaded.points.map((p) => [p.time, p.rpoSeconds, p.writtenBytesPerSecond]),
      [
        [T0, 2, 600],
        [T0 + MIN, 30, 600],
      ],
    );
    assert.equal((await readFile(file, 'utf8')).endsWith('}\n'), true, 'torn tail cut');

    // Back 10 s later, in the same minute: the minute resumes (20 s at 600 + 30 s at 0).
    for (let i = 90; i < 120; i++) {
      reopened.record(sample(T0 + i * 1000, { writtenBytesPerSecond: 0 }));
    }
    reopened.record(sample(T0 + 2 * MIN));
    clock.now = T0 + 2 * MIN + 1;
    await reopened.flush();
    const resumed = query(reopened, { resolution: 'minute', to: T0 + MIN });
    assert.deepEqual(
      resumed.points.map((p) => [p.time, p.rpoSeconds, p.writtenBytesPerSecond]),
      [
        [T0, 2, 600],
        [T0 + MIN, 30, 240],
      ],
    );
    // The file holds whole lines only; read again it gives the same minutes.
    const third = await open();
    assert.deepEqual(query(third, { resolution: 'minute', to: T0 + MIN }).points, resumed.points);
  });
});

describe('metrics history: queries and lifecycle', () => {
  let h: Awaited<ReturnType<typeof fresh>>;
  beforeEach(async () => {
    h = await fresh();
    h.history.record(sample(T0));
    h.clock.now = T0 + 3 * HOUR;
  });

  it('defaults: seconds for the last hour, minutes for anything older, a day before `to`', () => {
    const now = h.clock.now;
    assert.deepEqual(
      { ...query(h.history), points: [] },
      { vpgId: VPG, resolution: 'second', from: now - HOUR, to: now, points: [] },
    );
    const older = query(h.history, { from: now - 2 * HOUR });
    assert.equal(older.resolution, 'minute');
    assert.deepEqual(
      older.points.map((p) => p.time),
      [],
    );
    const before = query(h.history, { to: now - 2 * HOUR });
    assert.deepEqual([before.resolution, before.from], ['minute', now - 2 * HOUR - DAY]);
    assert.deepEqual(
      before.points.map((p) => p.time),
      [T0],
    );
    const minutes = query(h.history, { resolution: 'minute' });
    assert.deepEqual([minutes.from, minutes.to], [now - DAY, now]);
    // A console clock a little behind the agent's still gets seconds.
    assert.equal(query(h.history, { from: now - HOUR - 5000 }).resolution, 'second');
  });

  it('refuses a range out of retention with INVALID_PARAMS that says what is kept', () => {
    const now = h.clock.now;
    invalidParams(
      () => h.history.query(VPG, { from: now - 3 * HOUR, resolution: 'second' }),
      /1-second metrics are kept for the last hour only/,
    );
    invalidParams(() => h.history.query(VPG, { from: now - 10 * DAY }), /kept for 7 days/);
    invalidParams(() => h.history.query(VPG, { from: now, to: now - 1 }), /must not be after/);
  });

  it('a VPG that never ticked has no points; remove and retain delete a VPG’s file', async () => {
    assert.deepEqual(h.history.query('other', {}).points, []);
    await h.history.stop();
    assert.deepEqual(await readdir(h.dir), [`${VPG}.ndjson`]);
    const other = { ...sample(T0 + 3 * HOUR), vpgId: 'other-vpg' };
    const reopened = await h.open();
    reopened.record(other);
    await reopened.stop();
    assert.equal((await readdir(h.dir)).length, 2);
    await reopened.retain(['other-vpg']);
    assert.deepEqual(await readdir(h.dir), ['other-vpg.ndjson']);
    await reopened.remove('other-vpg');
    assert.deepEqual(await readdir(h.dir), []);
    assert.deepEqual(reopened.query('other-vpg', { resolution: 'minute' }).points, []);
  });
});
