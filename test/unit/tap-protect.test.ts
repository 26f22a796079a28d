import assert from 'node:assert/strict';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { DiskTap } from '../../agent/tap/disk-tap';
import type { ProtectedWriteSink } from '../../agent/tap/tap';

/**
 * protect() resolves only once the requests that started unprotected have reached the file:
 * an initial sync reading right after it must see them (else the replica could miss a write
 * made in the instant the VPG was created).
 */
test('protect() waits for unprotected writes in flight; later writes go to the sink', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-tap-'));
  const tap = new DiskTap();
  try {
    const path = join(dir, 'd0.raw');
    await createSparseFile(path, 64 * 1024 * 1024);
    await tap.attach('d0', path);
    const sunk: number[] = [];
    const sink: ProtectedWriteSink = {
      write: async (_disk, offset) => {
        sunk.push(offset);
      },
      zero: async () => undefined,
      flush: async () => undefined,
    };
    const events: string[] = [];
    const big = Buffer.alloc(32 * 1024 * 1024, 0x5a);
    const writes = [0, 32].map((mib) =>
      tap.write('d0', mib * 1024 * 1024, big).then(() => events.push(`write ${mib}`)),
    );
    const zeroing = tap.zero('d0', 0, 4096).then(() => events.push('zero'));
    // Read synchronously the moment protect() resolves: both big writes must be in the file.
    const atProtect = (): number[] => {
      const fd = openSync(path, 'r');
      try {
        const out = Buffer.alloc(2);
        readSync(fd, out, 0, 1, 32 * 1024 * 1024 - 1);
        readSync(fd, out, 1, 1, 64 * 1024 * 1024 - 1);
        return [...out];
      } finally {
        closeSync(fd);
      }
    };
    let seen: number[] = [];
    const protecting = tap.protect('d0', sink).then(() => {
      seen = atProtect();
    });
    await tap.write('d0', 8192, Buffer.alloc(4096, 1));
    await Promise.all([...writes, zeroing, protecting]);
    assert.deepEqual(
      seen,
      [0x5a, 0x5a],
      `both writes in the file when protect() resolved (${events.join(', ')})`,
    );
    assert.deepEqual(sunk, [8192], 'the write after protect() went to the sink');
    // Nothing in flight: protect() of an idle disk resolves at once.
    tap.unprotect('d0');
    await tap.protect('d0', sink);
    const check = await tap.read('d0', 32 * 1024 * 1024, 4);
    assert.deepEqual([...check], [0x5a, 0x5a, 0x5a, 0x5a]);
  } finally {
    await tap.close();
    await rm(dir, { recursive: true, force: true });
  }
});
