import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Timeframe } from '../../app/policy/policy-schemas';
import {
  REFERENCE_MONDAY,
  movedTimeframe,
  selectionSpan,
  timeframeEvents,
} from '../../renderer/lib/policy-calendar';
import { parseRate, parseRpo, rateInput, rpoInput } from '../../renderer/lib/policy-units';

/** A date in the reference week: day 1 = Monday. */
const at = (day: number, time: string): Date => {
  const [h, m] = time.split(':').map(Number);
  return new Date(REFERENCE_MONDAY + ((day - 1) * 1440 + (h ?? 0) * 60 + (m ?? 0)) * 60_000);
};
const tf = (over: Partial<Timeframe> = {}): Timeframe => ({
  id: 't',
  name: 'Nights',
  colour: '#8e24aa',
  days: [1, 2],
  start: '22:00',
  end: '06:00',
  rpoTargetSeconds: 60,
  ...over,
});

describe('policy calendar translation', () => {
  it('renders one event per day, a Sunday night wrapping to Monday morning', () => {
    const events = timeframeEvents(tf({ days: [1, 7] }), 't');
    assert.deepEqual(
      events.map((e) => [e.id, e.start.toISOString(), e.end.toISOString(), e.editable]),
      [
        ['t:1', '2024-01-01T22:00:00.000Z', '2024-01-02T06:00:00.000Z', true],
        ['t:7', '2024-01-07T22:00:00.000Z', '2024-01-08T00:00:00.000Z', true],
        ['t:7:wrap', '2024-01-01T00:00:00.000Z', '2024-01-01T06:00:00.000Z', false],
      ],
    );
    assert.deepEqual(events[0]?.classNames, ['tl-in-force']);
  });

  it('turns drags into timeframes: a day, a night, a block of days', () => {
    assert.deepEqual(selectionSpan(at(3, '09:00'), at(3, '12:30')), {
      days: [3],
      start: '09:00',
      end: '12:30',
    });
    assert.deepEqual(selectionSpan(at(5, '22:00'), at(6, '06:00')), {
      days: [5],
      start: '22:00',
      end: '06:00',
    });
    assert.deepEqual(selectionSpan(at(1, '08:00'), at(5, '18:00')), {
      days: [1, 2, 3, 4, 5],
      start: '08:00',
      end: '18:00',
    });
    assert.deepEqual(selectionSpan(at(2, '18:00'), at(3, '00:00')), {
      days: [2],
      start: '18:00',
      end: '24:00',
    });
  });

  it('applies a moved occurrence to every day and refuses more than 24 hours', () => {
    // Tuesday's occurrence moved to Wednesday 23:00: all days shift by one.
    const moved = movedTimeframe(tf(), 2, at(3, '23:00'), at(4, '07:00'));
    assert.deepEqual(moved && [moved.days, moved.start, moved.end], [[2, 3], '23:00', '07:00']);
    const wrapped = movedTimeframe(tf({ days: [7] }), 7, at(1, '10:00'), at(1, '12:00'));
    assert.deepEqual(wrapped && [wrapped.days, wrapped.start, wrapped.end], [
      [1],
      '10:00',
      '12:00',
    ]);
    assert.equal(movedTimeframe(tf(), 1, at(1, '22:00'), at(3, '06:00')), undefined);
  });

  it('reads and writes the units an admin uses', () => {
    assert.deepEqual(rpoInput(900), { value: '15', unit: 'min' });
    assert.equal(parseRpo({ value: '2', unit: 'h' }), 7200);
    assert.equal(parseRpo({ value: '0', unit: 's' }), 'enter a positive number');
    assert.deepEqual(rateInput(20_000_000), { value: '20', unit: 'Mbit/s' });
    assert.deepEqual(rateInput(2_000_000_000), { value: '2', unit: 'Gbit/s' });
    assert.equal(parseRate({ value: '1.5', unit: 'Gbit/s' }), 1_500_000_000);
    assert.equal(parseRate({ value: '', unit: 'unlimited' }), undefined);
  });
});
