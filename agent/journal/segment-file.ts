import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectAppender } from '../util/direct-io';
import { readFully } from '../util/read-fully';
import type { SpareFiles } from '../util/spare-files';
import { segmentFileName } from './layout';
import { RecordTable } from './record-table';

/**
 * One segment of the journal: the file `seg-<firstSeq>.log` and the table of its records.
 * `bytes` is the length of its valid records. Appends go through O_DIRECT where the file
 * system allows (util/direct-io.ts), so the file may run up to a block of zeros past `bytes`
 * until the segment is done (trimPadding) or the journal is opened again. The file handle is
 * opened on first use and kept until the segment is released or the journal closed; the
 * journal's locks make sure nobody reads a segment while it is being deleted.
 */
export class SegmentFile {
  readonly records = new RecordTable();
  readonly path: string;
  private handle: Promise<FileHandle> | undefined;
  private direct: DirectAppender;
  /** A spare written over from its start: its old bytes lie past `bytes` until trimmed. */
  private reused = false;

  constructor(
    dir: string,
    readonly firstSeq: number,
    public bytes = 0,
  ) {
    this.path = join(dir, segmentFileName(firstSeq));
    this.direct = new DirectAppender(this.path, false);
  }

  get name(): string {
    return segmentFileName(this.firstSeq);
  }

  /** Seq of its last record (firstSeq - 1 while it is empty). */
  get lastSeq(): number {
    return this.firstSeq + this.records.count - 1;
  }

  /**
   * Creates the file (it must not exist), from one of `spares` when there is one, and keeps
   * the handle.
   */
  async create(spares?: SpareFiles): Promise<FileHandle> {
    const reused = await spares?.take(this.path);
    this.reused = reused !== undefined;
    this.handle = reused !== undefined ? Promise.resolve(reused) : open(this.path, 'wx+', 0o600);
    this.direct = new DirectAppender(this.path, true);
    return this.handle;
  }

  /**
   * Appends `buffers` (`bytes` in all) at `bytes`, through O_DIRECT where the file system
   * allows it. Not durable until datasync(); `bytes` is the caller's to move on success.
   */
  async append(buffers: readonly Buffer[], bytes: number): Promise<void> {
    const file = await this.file();
    const buffered = await this.direct.append(file, this.bytes, buffers, bytes);
    if (buffered !== undefined) await writeAllv(file, buffered.buffers, buffered.position);
  }

  /** The file's bytes [start, end), at `at` in a buffer from `alloc` (DirectAppender). */
  async readRange(
    start: number,
    end: number,
    alloc: (bytes: number) => Buffer,
  ): Promise<{ buf: Buffer; at: number }> {
    return this.direct.readRange(await this.file(), start, end, alloc);
  }

  /**
   * Cuts what lies past the last record (the segment is done): the zeros an O_DIRECT append
   * left, or a reused file's old bytes.
   */
  async trimPadding(): Promise<void> {
    if (this.handle === undefined) return;
    if (this.reused) {
      await (await this.handle).truncate(this.bytes);
      this.reused = false;
    } else await this.direct.trim(await this.handle, this.bytes);
  }

  file(): Promise<FileHandle> {
    this.handle ??= open(this.path, 'r+');
    return this.handle;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await this.direct.close();
    if (handle === undefined) return;
    try {
      await (await handle).close();
    } catch {
      // it never opened, or is already closed: nothing to release
    }
  }

  /** Row of seq in the record table (caller checks the range). */
  row(seq: number): number {
    return seq - this.firstSeq;
  }
}

/** Writes all of `buffers` at `position`, however the kernel splits it. */
export async function writeAllv(
  handle: FileHandle,
  buffers: readonly Buffer[],
  position: number,
): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await handle.writev(pending, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    pending = rest;
  }
}

export async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Fills `target` from `position`; bytes past the end of the file read as zeros. */
export async function readZeroFilled(
  handle: FileHandle,
  target: Buffer,
  position: number,
): Promise<void> {
  target.fill(0, await readFully(handle, target, position));
}
