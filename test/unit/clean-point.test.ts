import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  changeTotals,
  cleanPointSearch,
  testsFor,
  type CleanPointRange,
} from '../../app/recovery/clean-point';
import type { EstateSnapshot } from '../../app/protocol/console-api';
import type { TestResult } from '../../app/recovery/recovery-schemas';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import { changeSeries, checkScriptBlocker, columnText } from '../../renderer/lib/clean-point';

const checkpoint = (seq: number, extra: Partial<CheckpointInfo> = {}): CheckpointInfo => ({
  vpgId: 'vpg-1',
  seq,
  sourceTime: 1_000_000 + seq * 1000,
  confirmed: true,
  ...extra,
});

const marked = (seq: number, result: TestResult): CheckpointInfo =>
  checkpoint(seq, { tested: { at: 5, result } });

const turnedHigh = (seq: number, blocks: number): CheckpointInfo =>
  checkpoint(seq, {
    change: {
      disks: [
        {
          diskId: 'd1',
          writtenBytes: 4096 * 10,
          writtenBlocks: 10,
          highEntropyBlocks: blocks,
          turnedHighBlocks: blocks,
        },
      ],
    },
  });

const seqs = (n: number): CheckpointInfo[] =>
  Array.from({ length: n }, (_, i) => checkpoint(i + 1));

/** Replaces checkpoints by seq. */
function withMarks(list: CheckpointInfo[], ...marks: CheckpointInfo[]): CheckpointInfo[] {
  return list.map((c) => marks.find((m) => m.seq === c.seq) ?? c);
}

describe('cleanPointSearch', () => {
  it('starts in the middle of the whole history, ⌈log2(n+1)⌉ tests at most', () => {
    const s = cleanPointSearch(seqs(7));
    assert.equal(s.candidate?.seq, 4);
    assert.equal(s.reason, 'middle');
    assert.equal(s.unknown, 7);
    assert.equal(s.testsLeft, 3);
    assert.equal(s.bounds.clean, undefined);
    assert.equal(s.bounds.notClean, undefined);
    assert.equal(s.done, undefined);
  });

  it('narrows between the last clean mark and the first not-clean one after it', () => {
    const s = cleanPointSearch(withMarks(seqs(10), marked(2, 'Passed'), marked(9, 'Failed')));
    assert.equal(s.bounds.clean?.seq, 2);
    assert.equal(s.bounds.notClean?.seq, 9);
    assert.equal(s.unknown, 6);
    assert.ok(s.candidate !== undefined && s.candidate.seq > 2 && s.candidate.seq < 9);
  });

  it('is done when no checkpoint is left between the bounds', () => {
    const s = cleanPointSearch(withMarks(seqs(5), marked(3, 'Passed'), marked(4, 'Failed')));
    assert.deepEqual(s.done, { lastClean: s.bounds.clean });
    assert.equal(s.done?.lastClean?.seq, 3);
    assert.equal(s.candidate, undefined);
    assert.equal(s.testsLeft, 0);
  });

  it('says when nothing in range was clean, and when everything was', () => {
    const none = cleanPointSearch(withMarks(seqs(3), marked(1, 'Failed')));
    assert.deepEqual(none.done, { lastClean: undefined });
    const all = cleanPointSearch(withMarks(seqs(3), marked(3, 'Passed')));
    assert.equal(all.done?.lastClean?.seq, 3);
    assert.equal(cleanPointSearch([]).done?.lastClean, undefined);
  });

  it('ignores marks outside the range and checkpoints that cannot be recovered', () => {
    const list = withMarks(seqs(12), marked(1, 'Passed'), marked(12, 'Failed'));
    list[5] = checkpoint(6, { inconsistent: true });
    list[6] = checkpoint(7, { confirmed: false });
    const s = cleanPointSearch(list, { fromSeq: 3, toSeq: 10 });
    assert.equal(s.bounds.clean, undefined);
    assert.equal(s.bounds.notClean, undefined);
    assert.deepEqual(
      s.checkpoints.map((c) => c.seq),
      [3, 4, 5, 8, 9, 10],
    );
    assert.ok(s.candidate !== undefined && ![6, 7].includes(s.candidate.seq));
  });

  it('takes a range given backwards as the same range', () => {
    const a = cleanPointSearch(seqs(9), { fromSeq: 2, toSeq: 8 });
    const b = cleanPointSearch(seqs(9), { fromSeq: 8, toSeq: 2 });
    assert.equal(a.candidate?.seq, b.candidate?.seq);
  });

  it('trusts the later clean mark over an earlier not-clean one, and says so', () => {
    const s = cleanPointSearch(withMarks(seqs(8), marked(2, 'Failed'), marked(5, 'Passed')));
    assert.equal(s.bounds.clean?.seq, 5);
    assert.deepEqual(
      s.contradicted.map((c) => c.seq),
      [2],
    );
  });

  it('moves toward where turned-high blocks rise, within the window that keeps the worst case', () => {
    // Seqs 1–6 unknown (3 tests), 7 not clean. The middle would be 3; turned-high blocks rise
    // at 6 (its writes), so 5 is preferred, and 4 is as near as keeps 3 tests.
    const list = [
      ...seqs(5).map((c) => turnedHigh(c.seq, c.seq === 3 ? 30 : 0)),
      turnedHigh(6, 900),
      { ...turnedHigh(7, 1000), tested: { at: 5, result: 'Failed' as const } },
    ];
    const s = cleanPointSearch(list);
    assert.equal(s.reason, 'signal');
    assert.equal(s.rise?.seq, 6);
    assert.equal(s.testsLeft, 3);
    assert.equal(s.candidate?.seq, 4);
    // With 2 unknown left (5, 6), the rise's neighbour itself is tested.
    const later = withMarks(list, { ...list[3]!, tested: { at: 6, result: 'Passed' } });
    assert.equal(cleanPointSearch(later).candidate?.seq, 5);
    // 7 unknown = 2^3 - 1: the window is the exact middle, the signal cannot move it.
    const seven = seqs(7).map((c) => (c.seq === 7 ? turnedHigh(7, 50) : c));
    assert.equal(cleanPointSearch(seven).candidate?.seq, 4);
  });

  it('sums the figures over disks', () => {
    const c = checkpoint(1, {
      change: {
        disks: [
          {
            diskId: 'a',
            writtenBytes: 10,
            writtenBlocks: 2,
            highEntropyBlocks: 1,
            turnedHighBlocks: 0,
          },
          {
            diskId: 'b',
            writtenBytes: 5,
            writtenBlocks: 1,
            highEntropyBlocks: 1,
            turnedHighBlocks: 1,
          },
        ],
        partial: true,
      },
    });
    assert.deepEqual(changeTotals(c), {
      writtenBytes: 15,
      writtenBlocks: 3,
      highEntropyBlocks: 2,
      turnedHighBlocks: 1,
      partial: true,
    });
    assert.equal(changeTotals(checkpoint(2)), undefined);
  });
});

/** A retained history: some checkpoints unusable, some with figures, some marked beforehand. */
const historyArb = fc
  .record({
    n: fc.integer({ min: 0, max: 80 }),
    flags: fc.array(
      fc.record({
        unusable: fc.constantFrom<'no' | 'inconsistent' | 'unconfirmed'>(
          'no',
          'no',
          'no',
          'no',
          'inconsistent',
          'unconfirmed',
        ),
        turnedHigh: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
        mark: fc.constantFrom<TestResult | undefined>(
          undefined,
          undefined,
          undefined,
          undefined,
          'Passed',
          'Failed',
        ),
      }),
      { minLength: 80, maxLength: 80 },
    ),
    onset: fc.integer({ min: 0, max: 81 }),
    from: fc.option(fc.integer({ min: 1, max: 80 }), { nil: undefined }),
    to: fc.option(fc.integer({ min: 1, max: 80 }), { nil: undefined }),
  })
  .map(({ n, flags, onset, from, to }) => {
    const list = Array.from({ length: n }, (_, i) => {
      const f = flags[i]!;
      const seq = i + 1;
      const base = f.turnedHigh === undefined ? checkpoint(seq) : turnedHigh(seq, f.turnedHigh);
      return {
        ...base,
        ...(f.unusable === 'inconsistent' && { inconsistent: true }),
        ...(f.unusable === 'unconfirmed' && { confirmed: false }),
      };
    });
    const range: CleanPointRange = { fromSeq: from, toSeq: to };
    return { list, flags, onset, range };
  });

const inRange = (seq: number, range: CleanPointRange): boolean =>
  seq >= Math.min(range.fromSeq ?? -Infinity, range.toSeq ?? Infinity) &&
  seq <= Math.max(range.fromSeq ?? -Infinity, range.toSeq ?? Infinity);

describe('cleanPointSearch, properties', () => {
  it('finds the last clean checkpoint of a history clean up to an onset within ⌈log2 n⌉+1 tests, never proposing one outside the bounds', () => {
    fc.assert(
      fc.property(historyArb, ({ list, flags, onset, range }) => {
        // Outside the range: arbitrary marks, which must not matter.
        let history = list.map((c, i) => {
          const mark = flags[i]!.mark;
          return !inRange(c.seq, range) && mark !== undefined
            ? { ...c, tested: { at: 1, result: mark } }
            : c;
        });
        const usable = history.filter(
          (c) => c.confirmed && c.inconsistent !== true && inRange(c.seq, range),
        );
        const n = usable.length;
        // The oracle: checkpoints before seq `onset` are clean.
        const clean = (c: CheckpointInfo): boolean => c.seq < onset;
        const expected = usable.filter(clean).pop();
        const budget = n === 0 ? 0 : Math.ceil(Math.log2(n)) + 1;
        assert.ok(cleanPointSearch(history, range).testsLeft <= budget);
        let tests = 0;
        for (;;) {
          const s = cleanPointSearch(history, range);
          if (s.done !== undefined) {
            assert.equal(s.done.lastClean?.seq, expected?.seq);
            break;
          }
          const candidate = s.candidate;
          assert.ok(candidate !== undefined);
          assert.ok(
            usable.some((c) => c.seq === candidate.seq),
            'a usable checkpoint in range',
          );
          assert.equal(candidate.tested, undefined);
          assert.ok(candidate.seq > (s.bounds.clean?.seq ?? -Infinity));
          assert.ok(candidate.seq < (s.bounds.notClean?.seq ?? Infinity));
          tests += 1;
          assert.ok(tests <= budget, `${tests} tests for ${n} checkpoints`);
          const result: TestResult = clean(candidate) ? 'Passed' : 'Failed';
          history = history.map((c) =>
            c.seq === candidate.seq ? { ...c, tested: { at: 2, result } } : c,
          );
          const next = cleanPointSearch(history, range);
          assert.ok(next.testsLeft < s.testsLeft, 'each test settles at least half');
        }
        assert.ok(tests <= budget);
      }),
      { numRuns: 400 },
    );
  });

  it('never proposes a checkpoint outside the bounds whatever the marks, and testsLeft matches the unknown ones', () => {
    fc.assert(
      fc.property(historyArb, ({ list, flags, range }) => {
        const history = list.map((c, i) => {
          const mark = flags[i]!.mark;
          return mark === undefined ? c : { ...c, tested: { at: 1, result: mark } };
        });
        const s = cleanPointSearch(history, range);
        assert.equal(s.testsLeft, testsFor(s.unknown));
        for (const c of s.checkpoints) {
          assert.ok(inRange(c.seq, range) && c.confirmed && c.inconsistent !== true);
        }
        if (s.candidate === undefined) {
          assert.equal(s.unknown, 0);
          assert.ok(s.done !== undefined);
          return;
        }
        assert.ok(s.checkpoints.includes(s.candidate));
        assert.equal(s.candidate.tested, undefined);
        assert.ok(s.candidate.seq > (s.bounds.clean?.seq ?? -Infinity));
        assert.ok(s.candidate.seq < (s.bounds.notClean?.seq ?? Infinity));
        assert.ok(s.bounds.clean === undefined || s.bounds.clean.tested?.result === 'Passed');
        assert.ok(s.bounds.notClean === undefined || s.bounds.notClean.tested?.result === 'Failed');
      }),
      { numRuns: 400 },
    );
  });
});

describe('the change sparkline and the check script (renderer/lib/clean-point.ts)', () => {
  it('sums crowded checkpoints into columns, shares of the written blocks, unmeasured ones apart', () => {
    const list = [turnedHigh(1, 5), checkpoint(2), turnedHigh(3, 10), turnedHigh(4, 0)];
    const one = changeSeries(list);
    assert.equal(one.perColumn, 1);
    assert.equal(one.measured, 3);
    assert.equal(one.columns[0]?.turnedShare, 0.5);
    assert.equal(one.columns[1]?.turnedShare, undefined);
    const two = changeSeries(list, 2);
    assert.equal(two.perColumn, 2);
    assert.deepEqual(
      two.columns.map((c) => [c.count, c.measured, c.writtenBytes, c.turnedShare]),
      [
        [2, 1, 40960, 0.5],
        [2, 2, 81920, 0.5],
      ],
    );
    assert.match(columnText(two.columns[0]!), /1 without figures/);
    assert.equal(changeSeries([checkpoint(1)]).measured, 0);
  });

  it('never offers a check script on a hypervisor that cannot run one, and says which', () => {
    const estate = {
      sites: [{ siteId: 's-dr', name: 'Recovery DC' }],
      hosts: [{ siteId: 's-dr', hypervisor: 'sim' }],
    } as unknown as EstateSnapshot;
    assert.equal(
      checkScriptBlocker(estate, 's-dr'),
      'The hypervisor of Recovery DC (sim) cannot run a command in a test VM.',
    );
    assert.match(checkScriptBlocker(estate, 's-other') ?? '', /No host of s-other is known/);
  });
});
