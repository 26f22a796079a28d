import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { DiskFile } from '../../agent/tap/disk-file';
import { AppendRing } from '../../agent/util/append-ring';
import { BufferPool } from '../../agent/util/buffer-pool';
import {
  allocAligned,
  DIRECT_BLOCK,
  DIRECT_MIN_BYTES,
  DirectAppender,
  endsInPadding,
  isAligned,
} from '../../agent/util/direct-io';

const run = promisify(execFile);
const KiB = 1024;
const MiB4 = 4 * 1024 * KiB;
const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** /var/tmp: on a disk file system (O_DIRECT works); /tmp may be a tmpfs. */
async function tempDir(base = '/var/tmp'): Promise<string> {
  const dir = await mkdtemp(join(base, 'tideline-direct-io-'));
  dirs.push(dir);
  return dir;
}

/** A file being appended to as the journal and outbox do: buffered handle + DirectAppender. */
class AppendFile {
  end = 0;
  directAppends = 0;
  private constructor(
    readonly path: string,
    readonly file: FileHandle,
    readonly direct: DirectAppender,
  ) {}

  static async create(path: string): Promise<AppendFile> {
    return new AppendFile(path, await open(path, 'wx+'), new DirectAppender(path, true));
  }

  /** A spare written over from its start (util/spare-files.ts): its old blocks lie ahead. */
  static async overwrite(path: string): Promise<AppendFile> {
    return new AppendFile(path, await open(path, 'r+'), new DirectAppender(path, true));
  }

  static async reopen(path: string, end: number): Promise<AppendFile> {
    const f = new AppendFile(path, await open(path, 'r+'), new DirectAppender(path, false));
    f.end = end;
    return f;
  }

  async append(buffers: Buffer[]): Promise<void> {
    const bytes = buffers.reduce((n, b) => n + b.length, 0);
    const buffered = await this.direct.append(this.file, this.end, buffers, bytes);
    if (buffered === undefined) this.directAppends += 1;
    else await this.file.writev(buffered.buffers, buffered.position);
    this.end += bytes;
  }

  async close(): Promise<void> {
    await this.direct.trim(this.file, this.end);
    await this.direct.close();
    await this.file.close();
  }
}

/** The sizes of one batch's buffers. */
function batchSizes(maxBytes: number, maxBuffers: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxBytes }), { minLength: 1, maxLength: maxBuffers });
}

/** Bytes this process had read from storage so far (not the page cache's). */
async function storageReadBytes(): Promise<number> {
  const io = await readFile('/proc/self/io', 'utf8');
  return Number(/^read_bytes: (\d+)$/m.exec(io)?.[1]);
}

/** Pages of `path` in the page cache (util-linux fincore). */
async function cachedPages(path: string): Promise<number> {
  const { stdout } = await run('fincore', ['--bytes', '--noheadings', '--output', 'PAGES', path]);
  return Number(stdout.trim());
}

describe('DirectAppender', () => {
  it('appends any mix of small (buffered) and large (O_DIRECT) batches byte for byte, across reopens', async () => {
    const dir = await tempDir();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            sizes: batchSizes(700 * KiB, 4),
            reopen: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        async (batches) => {
          const path = join(dir, `f${(n += 1)}`);
          let f = await AppendFile.create(path);
          const expected: Buffer[] = [];
          for (const { sizes, reopen } of batches) {
            const buffers = sizes.map((s) => randomBytes(s));
            await f.append(buffers);
            expected.push(...buffers);
            const { size } = await stat(path);
            assert.ok(size >= f.end && size - f.end < DIRECT_BLOCK, `${size} for ${f.end}`);
            assert.ok(
              size === f.end || (await endsInPadding(f.file, f.end, size)),
              'only padding past the end',
            );
            if (reopen) {
              // As after a crash: the file still ends in its padding, the tail is read back.
              await f.direct.close();
              await f.file.close();
              f = await AppendFile.reopen(path, f.end);
            }
          }
          await f.close();
          const whole = Buffer.concat(expected);
          assert.ok((await readFile(path)).equals(whole), 'the file holds every batch in order');
        },
      ),
      { numRuns: 25 },
    );
  });

  it('writes large batches around the page cache, and reads them back the same way', async (t) => {
    const dir = await tempDir();
    const path = join(dir, 'segment');
    const f = await AppendFile.create(path);
    // 9 MiB: more than one gathered write (8 staging buffers) and, read whole, several reads.
    const data = [
      randomBytes(3 * KiB + 5),
      randomBytes(4 * 1024 * KiB),
      randomBytes(300 * KiB),
      randomBytes(9 * 1024 * KiB + 123),
    ];
    for (const b of data) await f.append([b]);
    if (f.directAppends === 0) {
      t.skip(`${dir} refuses O_DIRECT: the buffered path is tested instead`);
      await f.close();
      return;
    }
    assert.equal(f.directAppends, 3, 'the 3 KiB batch went through the page cache');
    // The first block (the small batch, read back as the tail) is all that may be cached.
    assert.ok((await cachedPages(path)) <= 2, 'O_DIRECT left the page cache alone');
    const whole = Buffer.concat(data);
    for (const [from, length] of [
      [0, whole.length],
      [3 * KiB + 5, DIRECT_MIN_BYTES + 1],
      [whole.length - DIRECT_MIN_BYTES - 7, DIRECT_MIN_BYTES + 7],
    ] as const) {
      const into = Buffer.alloc(length);
      assert.equal(await f.direct.read(into, from), true);
      assert.ok(into.equals(whole.subarray(from, from + length)), `read ${from}+${length}`);
    }
    assert.equal(await f.direct.read(Buffer.alloc(4 * KiB), 0), false, 'a small read: buffered');
    assert.ok((await cachedPages(path)) <= 2, 'nor did the reads fill it');
    await f.close();
    assert.equal((await stat(path)).size, whole.length, 'closing cut the padding');
  });

  it('goes through the page cache while staging buffers are short (many large writes at once)', async (t) => {
    const dir = await tempDir();
    const files = await Promise.all(
      Array.from({ length: 40 }, (_, i) => AppendFile.create(join(dir, `f${i}`))),
    );
    const data = files.map(() => randomBytes(3 * 1024 * KiB + 17));
    await Promise.all(files.map((f, i) => f.append([data[i] as Buffer])));
    const direct = files.filter((f) => f.directAppends > 0).length;
    if (direct === 0) t.skip(`${dir} refuses O_DIRECT`);
    else assert.ok(direct < files.length, `${direct} of ${files.length} went through O_DIRECT`);
    for (const [i, f] of files.entries()) {
      await f.close();
      assert.ok((await readFile(f.path)).equals(data[i] as Buffer), `file ${i}`);
    }
  });

  it('leaves a file system that refuses O_DIRECT (ramfs) to the buffered handle', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('mounting a ramfs needs root');
      return;
    }
    // tmpfs takes O_DIRECT since Linux 6.6; ramfs still refuses it (EINVAL).
    const dir = await tempDir();
    await run('mount', ['-t', 'ramfs', '-o', 'mode=0700', 'ramfs', dir]);
    try {
      const f = await AppendFile.create(join(dir, 'segment'));
      const big = randomBytes(DIRECT_MIN_BYTES * 2);
      await f.append([big]);
      await f.append([big]);
      assert.equal(f.directAppends, 0);
      assert.equal(await f.direct.read(Buffer.alloc(big.length), 0), false);
      await f.close();
      assert.ok((await readFile(f.path)).equals(Buffer.concat([big, big])));
    } finally {
      await run('umount', ['-l', dir]);
    }
  });

  it('takes only less than a block of zeros past the end for padding', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f');
    const file = await open(path, 'w+');
    await file.write(
      Buffer.concat([randomBytes(100), Buffer.alloc(DIRECT_BLOCK)]),
      0,
      undefined,
      0,
    );
    assert.equal(await endsInPadding(file, 100, 100 + DIRECT_BLOCK - 1), true);
    assert.equal(await endsInPadding(file, 100, 100 + DIRECT_BLOCK), false, 'a block or more');
    assert.equal(await endsInPadding(file, 99, 200), false, 'a non-zero byte');
    assert.equal(await endsInPadding(file, 100, 100), false, 'nothing past the end');
    await file.close();
  });

  it("writes a disk's large aligned writes around the page cache, coherent with the rest", async (t) => {
    const dir = await tempDir();
    const path = join(dir, 'disk.raw');
    await (await open(path, 'w')).close();
    await run('truncate', ['-s', '8M', path]);
    const disk = await DiskFile.open('d0', path);
    const big = randomBytes(2 * 1024 * KiB);
    await disk.pwrite(big, 1024 * KiB);
    const cached = await cachedPages(path);
    if (cached > 0) {
      t.skip(`${dir} refuses O_DIRECT: the buffered path is tested instead (${cached} pages)`);
    }
    // A small write inside it (buffered), a large unaligned one (buffered), then reads.
    const small = randomBytes(4 * KiB);
    await disk.pwrite(small, 1024 * KiB + 8 * KiB);
    small.copy(big, 8 * KiB);
    const odd = randomBytes(DIRECT_MIN_BYTES + 512);
    await disk.pwrite(odd, 4 * 1024 * KiB + 512);
    await disk.pwrite(big.subarray(0, DIRECT_MIN_BYTES), 1024 * KiB); // direct over cached pages
    assert.ok((await disk.pread(1024 * KiB, big.length)).equals(big));
    // From aligned memory (a pooled NBD payload): written as it is, no staging.
    const payload = Buffer.from(allocAligned(512 * KiB) as ArrayBuffer);
    randomBytes(payload.length).copy(payload);
    await disk.pwrite(payload, 6 * 1024 * KiB);
    assert.ok((await disk.pread(6 * 1024 * KiB, payload.length)).equals(payload));
    assert.ok((await disk.pread(4 * 1024 * KiB + 512, odd.length)).equals(odd));
    await disk.datasync();
    await disk.close();
    const file = await readFile(path);
    assert.ok(file.subarray(1024 * KiB, 1024 * KiB + big.length).equals(big));
  });

  it('knows its aligned memory: pooled buffers O_DIRECT reads into and writes from as they are', async () => {
    const memory = allocAligned(DIRECT_MIN_BYTES) as ArrayBuffer;
    assert.ok(memory !== undefined && memory.byteLength === DIRECT_MIN_BYTES);
    assert.equal(allocAligned(DIRECT_MIN_BYTES + 1000), undefined, 'only whole 64 KiB pages');
    assert.equal(allocAligned(128 * KiB), undefined, 'nothing that small goes direct');
    const buf = Buffer.from(memory);
    assert.ok(isAligned(buf) && isAligned(buf.subarray(4 * KiB)));
    assert.ok(!isAligned(buf.subarray(512)), 'not on a block boundary');
    assert.ok(!isAligned(Buffer.alloc(DIRECT_MIN_BYTES)), 'ordinary memory');
    const pool = new BufferPool({
      minBytes: 64 * KiB,
      maxBytes: MiB4,
      idleBytes: MiB4,
      aligned: true,
    });
    assert.ok(isAligned(pool.take(300 * KiB)));
    assert.ok(!isAligned(pool.take(100 * KiB)), 'a class too small to go direct');

    // A range read into aligned memory: whole blocks around the range, the range at `at`.
    const dir = await tempDir();
    const f = await AppendFile.create(join(dir, 'segment'));
    const data = randomBytes(3 * 1024 * KiB + 77);
    await f.append([randomBytes(5)]);
    await f.append([data]);
    for (const alloc of [(n: number) => pool.take(n), (n: number) => Buffer.alloc(n)]) {
      const { buf: got, at } = await f.direct.readRange(f.file, 5 + 100, 5 + data.length, alloc);
      assert.ok(got.subarray(at, at + data.length - 100).equals(data.subarray(100)));
    }
    await f.close();
  });

  it('serves reads of recent appends from its ring, and the rest from the file, across rolls and undone writes', async (t) => {
    const dir = await tempDir();
    const ring = AppendRing.take(1024 * KiB) as AppendRing;
    assert.ok(ring !== undefined);
    t.after(() => ring.release());
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            sizes: batchSizes(600 * KiB, 3),
            // roll: a new file takes the ring; undo: the append failed and is cut back.
            then: fc.constantFrom('none', 'none', 'roll', 'undo'),
          }),
          { minLength: 1, maxLength: 10 },
        ),
        async (steps) => {
          const files: { f: AppendFile; data: Buffer[] }[] = [];
          const roll = async (): Promise<void> => {
            const f = await AppendFile.create(join(dir, `r${(n += 1)}`));
            f.direct.useRing(ring);
            files.push({ f, data: [] });
          };
          await roll();
          const check = async (): Promise<void> => {
            for (const { f, data } of files) {
              const whole = Buffer.concat(data);
              // Recent bytes (the ring's, or the file's once the ring moved on), the oldest the
              // ring may hold (the padding of the last append overwrote them), and all of it.
              const starts = [700 * KiB, ring.size - 1, ring.size - DIRECT_BLOCK + 1];
              for (const from of [...starts.map((s) => Math.max(0, whole.length - s)), 0]) {
                const { buf, at } = await f.direct.readRange(f.file, from, whole.length, (bytes) =>
                  Buffer.alloc(bytes),
                );
                const got = buf.subarray(at, at + whole.length - from);
                assert.ok(got.equals(whole.subarray(from)), `${f.path} from ${from}`);
              }
            }
          };
          for (const { sizes, then } of steps) {
            const current = files[files.length - 1] as { f: AppendFile; data: Buffer[] };
            const buffers = sizes.map((size) => randomBytes(size));
            const end = current.f.end;
            await current.f.append(buffers);
            const bytes = current.f.end - end;
            // A failed append leaves the appender as a successful one that is then cut back;
            // one larger than the ring is not (its tail is kept only when it succeeds).
            if (then === 'undo' && bytes + 2 * DIRECT_BLOCK <= ring.size) {
              await current.f.file.truncate(end); // as the outbox after a failed commit
              current.f.end = end;
            } else {
              current.data.push(...buffers);
            }
            await check();
            if (then === 'roll') await roll();
          }
          for (const { f, data } of files) {
            await f.close();
            assert.ok((await readFile(f.path)).equals(Buffer.concat(data)), f.path);
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('writes small appends in whole blocks: a reused file written through O_DIRECT is never read back', async (t) => {
    const dir = await tempDir();
    const path = join(dir, 'spare');
    const old = await AppendFile.create(path);
    for (let i = 0; i < 8; i += 1) await old.append([randomBytes(1024 * KiB)]);
    await old.close();
    if (old.directAppends === 0) {
      t.skip(`${dir} refuses O_DIRECT: its pages stay cached, and nothing is read back`);
      return;
    }
    // Records of 4 KiB and a header, as the outbox's at 4 KiB writes: each ends mid-block, and
    // the next one starts there, in a block the page cache does not hold (O_DIRECT wrote it).
    const f = await AppendFile.overwrite(path);
    const records = Array.from({ length: 300 }, () => randomBytes(4 * KiB + 57));
    const before = await storageReadBytes();
    for (const record of records) await f.append([record]);
    const read = (await storageReadBytes()) - before;
    // Each append in part blocks would read one back: 300 × 4 KiB.
    assert.ok(read < 64 * KiB, `${read} bytes read from storage for 300 appends`);
    const whole = Buffer.concat(records);
    const file = await readFile(path);
    assert.ok(file.subarray(0, whole.length).equals(whole), 'the records, in order');
    await f.close();
  });

  it('after an append that failed, appends again from the bytes the file holds', async () => {
    const dir = await tempDir();
    for (const failed of [DIRECT_BLOCK, DIRECT_MIN_BYTES]) {
      const f = await AppendFile.create(join(dir, `f${failed}`));
      const first = randomBytes(100);
      await f.append([first]);
      // The append is answered, but its write fails (a full disk): the caller cuts the file
      // back and appends again at the same end. Its tail (100 bytes, as long as the file's
      // last block) must not stand for the file's.
      const lost = randomBytes(failed);
      await f.direct.append(f.file, f.end, [lost], lost.length);
      await f.file.truncate(f.end);
      const next = randomBytes(50);
      await f.append([next]);
      await f.close();
      assert.ok(
        (await readFile(f.path)).equals(Buffer.concat([first, next])),
        `after a failed append of ${failed} bytes`,
      );
    }
  });

  it('reads what its ring holds from memory, not from the file', async (t) => {
    const dir = await tempDir();
    const ring = AppendRing.take(4 * 1024 * KiB) as AppendRing;
    t.after(() => ring.release());
    const f = await AppendFile.create(join(dir, 'segment'));
    f.direct.useRing(ring);
    const data = [randomBytes(1000), randomBytes(DIRECT_MIN_BYTES + 3), randomBytes(2000)];
    for (const b of data) await f.append([b]);
    const whole = Buffer.concat(data);
    // Overwrite the file behind the appender's back: a read from the ring cannot see it.
    const other = await open(f.path, 'r+');
    await other.write(Buffer.alloc(whole.length, 0xee), 0, whole.length, 0);
    await other.close();
    const { buf, at } = await f.direct.readRange(f.file, 500, whole.length, (b) => Buffer.alloc(b));
    assert.ok(buf.subarray(at, at + whole.length - 500).equals(whole.subarray(500)));
    // Two appenders share one ring: the one appending holds it, the other reads its file.
    const g = await AppendFile.create(join(dir, 'next'));
    g.direct.useRing(ring);
    await g.append([randomBytes(DIRECT_MIN_BYTES)]);
    const before = await f.direct.readRange(f.file, 0, 100, (b) => Buffer.alloc(b));
    assert.ok(before.buf.subarray(before.at, before.at + 100).equals(Buffer.alloc(100, 0xee)));
    await f.close();
    await g.close();
    assert.equal(AppendRing.take(64 * 1024 * 1024), undefined, 'the budget bounds all rings');
  });
});
