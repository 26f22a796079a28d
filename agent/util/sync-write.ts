import { writeSync } from 'node:fs';

/**
 * Whole-page writes up to this size are made synchronously, on the event loop: copying a few
 * pages into the page cache costs less than a thread-pool round trip, which was most of a
 * small write's cost (agent/source/README.md, "Small writes on the event loop").
 */
export const SYNC_WRITE_BYTES = 64 * 1024;
const PAGE = 4096;

/**
 * Writes `data` at `offset` of `fd` synchronously when it is small and whole pages (so no
 * read-modify-write can block the loop on a disk read); false, with nothing written,
 * otherwise.
 */
export function writeSmallSync(fd: number, data: Buffer, offset: number): boolean {
  if (data.length > SYNC_WRITE_BYTES || offset % PAGE !== 0 || data.length % PAGE !== 0) {
    return false;
  }
  for (let done = 0; done < data.length;) {
    done += writeSync(fd, data, done, data.length - done, offset + done);
  }
  return true;
}
