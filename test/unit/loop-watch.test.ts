import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { LoopWatch } from '../../agent/util/loop-watch';

/** Blocks this thread (the event loop) for `ms` without using the CPU. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

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
    // Blocked without burning a core (the other test files run beside this one): short
    // blocks between which the loop runs are no stall.
    for (let i = 0; i < 10; i++) {
      block(50);
      await sleep(5);
    }
    await sleep(300);
    assert.deepEqual(lines, []);
    block(1500); // as a write held by dirty-page throttling
    await sleep(300);
    const stalls = lines.filter((l) => l['msg'] === 'event loop stalled');
    assert.equal(stalls.length, 1);
    const stalled = Number(stalls[0]?.['stalledMs']);
    assert.ok(stalled >= 1000 && stalled < 2000, `stalledMs ${stalled}`);
  } finally {
    watch.stop();
  }
});
