import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import {
  SLOW_SYNC_WRITE_MS,
  SYNC_BACKOFF_MS,
  SyncWriteGate,
  writeSmallSync,
} from '../../agent/util/sync-write';

after(cleanupAgents);

test('after a synchronous write the kernel held, writes go to the thread pool for a while', async () => {
  const path = join(await makeTempDir(), 'file');
  const file = await open(path, 'w+');
  try {
    let clock = 0;
    let heldFor = 0; // how long the kernel "holds" the next write
    const gate = new SyncWriteGate(() => clock);
    const write = (byte: number): boolean =>
      gate.run(() => {
        writeSync(file.fd, Buffer.alloc(4096, byte), 0, 4096, 0);
        clock += heldFor;
      });
    assert.equal(write(1), true);
    heldFor = SLOW_SYNC_WRITE_MS - 1;
    assert.equal(write(2), true, 'a write just under the bound is no sign of throttling');
    heldFor = SLOW_SYNC_WRITE_MS;
    assert.equal(write(3), true, 'a slow write is still made');
    heldFor = 0;
    assert.equal(write(4), false, 'the next one is left to the thread pool');
    clock += SYNC_BACKOFF_MS - 1;
    assert.equal(write(5), false);
    clock += 1;
    assert.equal(write(6), true, 'back on the loop once the back-off is over');
    assert.equal((await readFile(path))[0], 6, 'refused writes wrote nothing');
    assert.equal(
      writeSmallSync(file.fd, Buffer.alloc(100), 0),
      false,
      'less than whole pages: the pool',
    );
    assert.equal(writeSmallSync(file.fd, Buffer.alloc(4096, 7), 4096), true);
    assert.equal((await readFile(path))[4096], 7);
  } finally {
    await file.close();
  }
});
