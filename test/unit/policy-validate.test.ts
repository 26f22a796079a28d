import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { migratePolicy, validatePolicy } from '../../app/policy/policy';
import type { Policy, Timeframe } from '../../app/policy/policy-schemas';

function tf(p: Partial<Timeframe> & Pick<Timeframe, 'id' | 'name'>): Timeframe {
  return { colour: '#1e88e5', days: [1], start: '08:00', end: '18:00', rpoTargetSeconds: 60, ...p };
}
function policy(timeframes: unknown[], extra: Record<string, unknown> = {}): unknown {
  return {
    schemaVersion: 1,
    version: 3,
    timeZone: 'Europe/Berlin',
    default: { rpoTargetSeconds: 300 },
    timeframes,
    ...extra,
  };
}
const issues = (input: unknown): [string, string][] =>
  validatePolicy(input).issues.map((i) => [i.path, i.message]);

describe('validatePolicy', () => {
  it('accepts a valid policy and returns it', () => {
    const input = policy([
      tf({ id: 'b', name: 'Business hours', days: [1, 2, 3, 4, 5] }),
      tf({
        id: 'n',
        name: 'Sunday night',
        days: [7],
        start: '22:00',
        end: '06:00',
        seedingBitsPerSecond: 9e9,
        replicationBitsPerSecond: 1e6,
      }),
      tf({ id: 'm', name: 'Monday morning', days: [1], start: '06:00', end: '08:00' }),
    ]);
    const r = validatePolicy(input);
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.policy, input as Policy);
  });

  it('unknown time zone', () => {
    assert.deepEqual(issues(policy([], { timeZone: 'Europe/Atlantis' })), [
      [
        'timeZone',
        'Unknown time zone "Europe/Atlantis": use an IANA name such as Europe/Berlin or America/New_York',
      ],
    ]);
  });

  it('duplicate ids', () => {
    assert.deepEqual(
      issues(policy([tf({ id: 'x', name: 'A' }), tf({ id: 'x', name: 'B', days: [2] })])),
      [
        [
          'timeframes[1].id',
          'B has the same id as A (timeframes[0]); each timeframe needs its own id',
        ],
      ],
    );
  });

  it('empty timeframe (start = end) and a start at 24:00', () => {
    assert.deepEqual(
      issues(
        policy([
          tf({ id: 'a', name: 'A', start: '10:00', end: '10:00' }),
          tf({ id: 'b', name: 'B', start: '24:00', end: '02:00' }),
        ]),
      ),
      [
        [
          'timeframes[0].end',
          'A is empty: it ends when it starts (10:00); for a whole day use 00:00 to 24:00',
        ],
        ['timeframes[1].start', 'B cannot start at 24:00; start it at 00:00 instead'],
      ],
    );
  });

  it('no days, a bad time, a bad colour', () => {
    assert.deepEqual(
      issues(policy([tf({ id: 'a', name: 'A', days: [], end: '25:00', colour: 'red' })])),
      [
        ['timeframes[0].colour', 'A: colour — use a colour like #1e88e5'],
        ['timeframes[0].days', 'A: days — pick at least one day'],
        ['timeframes[0].end', 'A: end — use HH:MM, 00:00 to 24:00'],
      ],
    );
  });

  it('overlaps name both timeframes and when they overlap, across midnight and the week end', () => {
    assert.deepEqual(
      issues(
        policy([
          tf({ id: 'b', name: 'Business hours', days: [1, 2] }),
          tf({ id: 'w', name: 'Backup window', days: [1], start: '17:00', end: '19:00' }),
          tf({ id: 's', name: 'Sunday night', days: [7], start: '22:00', end: '06:00' }),
          tf({ id: 'e', name: 'Early', days: [7, 1], start: '23:30', end: '00:30' }),
        ]),
      ),
      [
        ['timeframes[1]', 'Backup window overlaps Business hours on Monday 17:00–18:00'],
        ['timeframes[3]', 'Early overlaps Sunday night on Sunday 23:30 – Monday 00:30'],
      ],
    );
  });

  it('bandwidth and RPO out of range, with the default named', () => {
    assert.deepEqual(
      issues(
        policy(
          [
            tf({
              id: 'a',
              name: 'A',
              rpoTargetSeconds: 0,
              replicationBitsPerSecond: 2e12,
              seedingBitsPerSecond: 1.5,
            }),
          ],
          { default: { rpoTargetSeconds: 90000 } },
        ),
      ),
      [
        [
          'default.rpoTargetSeconds',
          'Default: rpoTargetSeconds — RPO target must be at most 24 hours',
        ],
        [
          'timeframes[0].rpoTargetSeconds',
          'A: rpoTargetSeconds — RPO target must be at least 1 second',
        ],
        [
          'timeframes[0].replicationBitsPerSecond',
          'A: replicationBitsPerSecond — bandwidth must be at most 1 Tbit/s',
        ],
        [
          'timeframes[0].seedingBitsPerSecond',
          'A: seedingBitsPerSecond — bandwidth must be a whole number of bit/s',
        ],
      ],
    );
  });

  it('a wrong schema version', () => {
    assert.deepEqual(issues(policy([], { schemaVersion: 7 })), [
      [
        'schemaVersion',
        'Schema version 7 is not supported; this version of Tideline reads version 2',
      ],
    ]);
  });
});

describe('migratePolicy', () => {
  it('reads version 1 as version 2 without exceptions, and validates it', () => {
    const migrated = migratePolicy(policy([tf({ id: 'a', name: 'A' })]));
    assert.equal(migrated.policy?.schemaVersion, 2);
    assert.deepEqual(migrated.policy?.exceptions, []);
    assert.equal(migrated.policy?.timeframes[0]?.name, 'A');
    assert.equal(migratePolicy(policy([], { timeZone: 'Nowhere/X' })).issues[0]?.path, 'timeZone');
    assert.ok(migratePolicy(policy([], { schemaVersion: 2, exceptions: [] })).policy);
  });
  it('refuses unknown versions and non-policies clearly', () => {
    assert.deepEqual(migratePolicy(policy([], { schemaVersion: 3 })).issues, [
      {
        path: 'schemaVersion',
        message:
          'Policy schema version 3 is not supported: this version of Tideline reads versions 1 to 2; it was saved by a newer Tideline — upgrade to open it',
      },
    ]);
    assert.deepEqual(migratePolicy({ timeframes: [] }).issues, [
      { path: 'schemaVersion', message: 'Not a policy: it has no schemaVersion' },
    ]);
    assert.deepEqual(migratePolicy('x').issues, [
      { path: '', message: 'Not a policy: expected a JSON object' },
    ]);
  });
});

describe('date exceptions', () => {
  const ex = (over: Record<string, unknown>) => ({
    id: String(over['name'] ?? 'x')
      .toLowerCase()
      .replace(/\W+/g, '-'),
    colour: '#e53935',
    recurrence: 'once',
    rpoTargetSeconds: 900,
    ...over,
  });
  const v2 = (exceptions: unknown[]) => policy([], { schemaVersion: 2, exceptions });

  it('overlapping exceptions are refused, naming both and a shared day', () => {
    assert.deepEqual(
      issues(
        v2([
          ex({ name: 'Migration weekend', from: '2026-12-26', to: '2026-12-31' }),
          ex({ name: 'Year end', from: '2026-12-31', to: '2026-12-31', recurrence: 'yearly' }),
          ex({
            name: 'Month end',
            from: '2026-01-01',
            to: '2027-12-31',
            recurrence: 'last-business-day',
          }),
        ]),
      ),
      [
        ['exceptions[1]', 'Year end overlaps Migration weekend on 2026-12-31'],
        // The last weekday of December 2026 is Thursday the 31st.
        ['exceptions[2]', 'Month end overlaps Migration weekend on 2026-12-31'],
        ['exceptions[2]', 'Month end overlaps Year end on 2026-12-31'],
      ],
    );
  });

  it('dates are checked: real days, an end after the start, a yearly one within a year', () => {
    assert.deepEqual(
      issues(
        v2([
          ex({ name: 'Bad', from: '2026-02-30', to: '2026-03-01' }),
          ex({ name: 'Backwards', from: '2026-05-02', to: '2026-05-01' }),
          ex({ name: 'Too long', from: '2026-01-01', to: '2027-06-01', recurrence: 'yearly' }),
        ]),
      ).map(([path]) => path),
      ['exceptions[0].from', 'exceptions[1].to', 'exceptions[2].to'],
    );
  });
});
