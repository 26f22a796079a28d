/**
 * Apply's small writes on a worker thread (agent/journal/small-writes.ts): the worker runs
 * (here from its source under tsx), writes land in the order they were added across batches,
 * and a failed write fails the flush with its errno code.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  SMALL_BATCH_BYTES,
  SmallWrites,
  smallWritesWorkerRuns,
  type SmallWriteTarget,
} from '../../agent/journal/small-writes';

describe('apply small writes on a worker thread', () => {
  let dir = '';
  after(() => rm(dir, { recursive: true, force: true }));

  it('starts its worker', async () => {
    assert.equal(await smallWritesWorkerRuns(), true);
  });

  it('writes in the order added, the last write to a byte winning, across batches', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tideline-small-writes-'));
    const path = join(dir, 'replica');
    const file = await open(path, 'w+');
    const fileSize = 1024 * 1024;
    await file.truncate(fileSize);
    let threadPoolWrites = 0;
    const target: SmallWriteTarget = {
      fd: file.fd,
      write: async (offset, data) => {
        threadPoolWrites += 1;
        await file.write(data, 0, data.length, offset);
      },
    };
    const expected = Buffer.alloc(fileSize);
    const writes = new SmallWrites();
    // Three batches' worth of 4 KiB writes over 1 MiB: every block is written several times.
    const count = (3 * SMALL_BATCH_BYTES) / 4096;
    for (let i = 0; i < count; i += 1) {
      const offset = ((i * 7919) % (fileSize / 4096)) * 4096;
      const data = randomBytes(4096);
      data.copy(expected, offset);
      writes.add(target, offset, data);
    }
    await writes.flush();
    await file.close();
    assert.equal(threadPoolWrites, 0, 'the worker wrote them, not the thread pool');
    assert.ok((await readFile(path)).equals(expected), 'each block holds its last write');
  });

  it('fails the flush with the errno of a failed write', async () => {
    const writes = new SmallWrites();
    const closed: SmallWriteTarget = {
      fd: 1_000_000,
      write: () => Promise.reject(new Error('not used')),
    };
    writes.add(closed, 0, Buffer.alloc(4096, 1));
    await assert.rejects(writes.flush(), { code: 'EBADF' });
    // The next flush is clean: the failure was thrown once.
    await writes.flush();
  });
});
