import { writeSync } from 'node:fs';

/**
 * Whole-page writes up to this size are made synchronously, on the event loop: copying a few
 * pages into the page cache costs less than a thread-pool round trip, which was most of a
 * small write's cost (agent/source/README.md, "Small writes on the event loop").
 */
export const SYNC_WRITE_BYTES = 64 * 1024;
const PAGE = 4096;
/**
 * A synchronous write that took this long was held by the kernel (dirty-page throttling
 * pauses a writer for up to 200 ms at a time, a journal commit longer), not copying pages.
 */
export const SLOW_SYNC_WRITE_MS = 20;
/** After a slow one, every write goes to the thread pool for this long. */
export const SYNC_BACKOFF_MS = 1000;

/**
 * Small writes on the event loop while they are cheap. The kernel may hold any write to the
 * page cache (the disk is behind on writeback); on the loop that would stall the whole agent
 * (NBD replies, the sender, acks, ticks) for as long, write after write. So the first write
 * seen slow sends every write of the process to the thread pool for a second, where a held
 * write holds only itself: at most one slow write a second blocks the loop.
 */
export class SyncWriteGate {
  private poolUntil = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /**
   * Runs `write`, a small synchronous write, on the loop unless a write was slow of late:
   * false, with nothing run, then (the caller uses the thread pool).
   */
  run(write: () => void): boolean {
    const started = this.now();
    if (started < this.poolUntil) return false;
    write();
    const ended = this.now();
    if (ended - started >= SLOW_SYNC_WRITE_MS) this.poolUntil = ended + SYNC_BACKOFF_MS;
    return true;
  }
}

/** The process's gate: throttling is the host's state, not one file's. */
const gate = new SyncWriteGate();

/** SyncWriteGate.run through the process's gate. */
export function runSmallSync(write: () => void): boolean {
  return gate.run(write);
}

/**
 * Writes `data` at `offset` of `fd` synchronously when it is small and whole pages (so no
 * read-modify-write can block the loop on a disk read) and the gate lets it; false, with
 * nothing written, otherwise.
 */
export function writeSmallSync(fd: number, data: Buffer, offset: number): boolean {
  if (data.length > SYNC_WRITE_BYTES || offset % PAGE !== 0 || data.length % PAGE !== 0) {
    return false;
  }
  return gate.run(() => {
    for (let done = 0; done < data.length;) {
      done += writeSync(fd, data, done, data.length - done, offset + done);
    }
  });
}
