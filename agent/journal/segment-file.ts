import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentFileName } from './layout';
import { RecordTable } from './record-table';

/**
 * One segment of the journal: the file `seg-<firstSeq>.log` and the table of its records.
 * `bytes` is the length of its valid records (the file is never longer once the journal is
 * open: a torn tail is cut). The file handle is opened on first use and kept until the
 * segment is released or the journal closed; the journal's locks make sure nobody reads a
 * segment while it is being deleted.
 */
export class SegmentFile {
  readonly records = new RecordTable();
  readonly path: string;
  private handle: Promise<FileHandle> | undefined;

  constructor(
    dir: string,
    readonly firstSeq: number,
    public bytes = 0,
  ) {
    this.path = join(dir, segmentFileName(firstSeq));
  }

  get name(): string {
    return segmentFileName(this.firstSeq);
  }

  /** Seq of its last record (firstSeq - 1 while it is empty). */
  get lastSeq(): number {
    return this.firstSeq + this.records.count - 1;
  }

  /** Creates the file (it must not exist) and keeps the handle for appending. */
  create(): Promise<FileHandle> {
    this.handle = open(this.path, 'wx+', 0o600);
    return this.handle;
  }

  file(): Promise<FileHandle> {
    this.handle ??= open(this.path, 'r+');
    return this.handle;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
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
export async function readFully(
  handle: FileHandle,
  target: Buffer,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) {
      target.fill(0, done);
      return;
    }
    done += bytesRead;
  }
}
