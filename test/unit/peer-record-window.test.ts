import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordWindow } from '../../agent/peer/record-window';

test('a rewind refuses the batches waiting for room: the new stream is not stuck behind them', async () => {
  const window = new RecordWindow(1000);
  await window.acquire('v', 10, 800); // in flight: records up to 10
  const stale = window.acquire('v', 20, 800); // the old stream's next batch waits for room
  window.rewind('v'); // the target asked for a resend from its position
  await assert.rejects(stale, /was rewound/);
  // The new stream's first batch gets the window at once, and an ACK of it frees it.
  await window.acquire('v', 12, 800);
  assert.equal(window.unacked('v'), 800);
  window.release('v', 12);
  assert.equal(window.unacked('v'), 0);
});

/** Sends and acknowledges `batches` batches of `bytes`, one per `everyMs` of the clock. */
async function stream(
  window: RecordWindow,
  clock: { now: number },
  from: number,
  batches: number,
  bytes: number,
  everyMs: number,
): Promise<number> {
  let seq = from;
  for (let i = 0; i < batches; i += 1) {
    seq += 1;
    await window.acquire('v', seq, bytes);
    clock.now += everyMs;
    window.release('v', seq);
  }
  return seq;
}

test('the window grows on a link that acknowledges fast, and keeps its base on a slow one', async () => {
  const clock = { now: 0 };
  const KiB = 1024;
  const window = new RecordWindow(100 * KiB, {
    maxBytes: 400 * KiB,
    delayMs: 200,
    clock: () => clock.now,
  });
  assert.equal(window.limit('v'), 100 * KiB, 'no rate measured yet: the base');

  // Slow: 10 KiB acknowledged every 100 ms is 100 KiB/s, 20 KiB per 200 ms: the base stays.
  let seq = await stream(window, clock, 0, 20, 10 * KiB, 100);
  assert.equal(window.limit('v'), 100 * KiB);
  await window.acquire('v', seq + 1, 60 * KiB);
  const over = window.acquire('v', seq + 2, 60 * KiB);
  let waited = true;
  void over.then(() => (waited = false));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(waited, true, 'past the base, a batch waits for an ACK');
  clock.now += 100;
  window.release('v', seq + 1);
  await over;
  clock.now += 100;
  window.release('v', seq + 2);
  seq += 2;

  // Fast: 120 KiB every 50 ms is 2,400 KiB/s, 480 KiB per 200 ms: the maximum, 400.
  seq = await stream(window, clock, seq, 40, 120 * KiB, 50);
  assert.equal(window.limit('v'), 400 * KiB);
  await window.acquire('v', seq + 1, 200 * KiB);
  await window.acquire('v', seq + 2, 150 * KiB); // 350 KiB in flight: within the grown window
  assert.equal(window.unacked('v'), 350 * KiB);
  clock.now += 50;
  window.release('v', seq + 2);

  // Slow again: within about a second the window is back at its base.
  await stream(window, clock, seq + 2, 12, 10 * KiB, 100);
  assert.equal(window.limit('v'), 100 * KiB);
});

test('without growth the window is fixed, however fast the ACKs', async () => {
  const window = new RecordWindow(1000);
  let seq = 0;
  for (let i = 0; i < 50; i += 1) {
    seq += 1;
    await window.acquire('v', seq, 1000);
    window.release('v', seq);
  }
  assert.equal(window.limit('v'), 1000);
});
