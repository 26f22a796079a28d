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
