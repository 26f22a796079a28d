import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { LoopWatch } from '../../agent/util/loop-watch';

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

test('a blocked event loop is logged with how long it stalled; a busy one is not', async () => {
  const { log, lines } = capture();
  const watch = new LoopWatch(log);
  watch.start();
  try {
    // Busy but yielding: short synchronous bursts are no stall.
    for (let i = 0; i < 10; i++) {
      const until = performance.now() + 50;
      while (performance.now() < until);
      await sleep(5);
    }
    await sleep(300);
    assert.deepEqual(lines, []);
    const until = performance.now() + 1500; // as a write held by dirty-page throttling
    while (performance.now() < until);
    await sleep(300);
    const stalls = lines.filter((l) => l['msg'] === 'event loop stalled');
    assert.equal(stalls.length, 1);
    const stalled = Number(stalls[0]?.['stalledMs']);
    assert.ok(stalled >= 1000 && stalled < 2000, `stalledMs ${stalled}`);
  } finally {
    watch.stop();
  }
});
