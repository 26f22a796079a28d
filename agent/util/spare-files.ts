import { link, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../store/json-file';

const SPARE_PATTERN = /^spare-\d+$/;

/**
 * Files of released segments (outbox, journal) kept to be written over by the next new
 * segment. Overwriting blocks a file already holds changes none of its metadata, so each
 * fdatasync of the new segment is a device flush; appending to a fresh file makes each one an
 * ext4 journal commit as well (fio here, three writers of 1 MiB with an fdatasync each: 3.4
 * GiB/s overwriting, 1.7 appending; bench/README.md § 15).
 *
 * A reused file holds the old records past the new ones until the segment is done and cut to
 * its length: a scan after a crash takes them for a torn tail of the last segment, or for
 * bytes past the end of a segment whose successor starts right after its last record, and
 * nothing else. Their seqs are all below the new segment's first, so none is ever taken for
 * the next record. Spares do not outlive the process: `clear` deletes those of an earlier run.
 */
/** A retired file on its way to be a spare: handed out once `usable` was called. */
export interface RetiredFile {
  usable(): void;
}

export class SpareFiles {
  private readonly ready: string[] = [];
  private pending = 0;
  private next = 0;

  constructor(
    private readonly dir: string,
    /** Spares kept at most (each holds a segment's disk space). */
    private readonly max: number,
  ) {}

  /** Deletes the spares an earlier run left behind. */
  async clear(): Promise<void> {
    this.ready.length = 0;
    for (const name of await readdir(this.dir)) {
      if (SPARE_PATTERN.test(name)) await unlink(join(this.dir, name)).catch(ignoreGone);
    }
  }

  /**
   * Takes a released segment's file out of the segments' names: renamed to a spare, or
   * deleted when enough are kept. A spare is handed out only once `usable` is called (a
   * reader may still have the file open).
   */
  async retire(path: string): Promise<RetiredFile | undefined> {
    if (this.ready.length + this.pending >= this.max) {
      await unlink(path).catch(ignoreGone);
      return undefined;
    }
    const spare = join(this.dir, `spare-${this.next++}`);
    try {
      await rename(path, spare);
    } catch (err) {
      ignoreGone(err); // gone already: nothing to keep
      return undefined;
    }
    this.pending += 1;
    let done = false;
    return {
      usable: () => {
        if (done) return;
        done = true;
        this.pending -= 1;
        this.ready.push(spare);
      },
    };
  }

  /**
   * A spare under the new name `path` (which must not exist, as with an exclusive create),
   * open for reading and writing; undefined when there is none. The caller fsyncs the
   * directory, as for a created file.
   */
  async take(path: string): Promise<FileHandle | undefined> {
    const spare = this.ready.pop();
    if (spare === undefined) return undefined;
    try {
      await link(spare, path);
    } finally {
      await unlink(spare).catch(ignoreGone);
    }
    return open(path, 'r+');
  }

  /** Deletes the spares (closing: the next run would not use them). */
  async dispose(): Promise<void> {
    const spares = this.ready.splice(0);
    await Promise.all(spares.map((spare) => unlink(spare).catch(ignoreGone)));
  }
}

function ignoreGone(err: unknown): void {
  if (!isErrno(err, 'ENOENT')) throw err;
}
