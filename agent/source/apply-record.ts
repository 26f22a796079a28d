import type { StreamRecord } from '../replication/record';
import type { DiskFile } from '../tap/disk-file';
import { assertNever } from '../util/assert-never';

/**
 * Sets a record's extent of a disk to the record's content. Idempotent: applying a record twice
 * leaves the same bytes, which is what makes redo after a crash safe. Trim is applied as
 * zeroing, so that the replay of the stream (on the replica too) equals the source disk.
 */
export async function applyRecord(disk: DiskFile, record: StreamRecord): Promise<void> {
  switch (record.kind) {
    case 'write':
    case 'seed':
      await disk.pwrite(record.data, record.offset);
      return;
    case 'zero':
    case 'trim':
      await disk.writeZeroes(record.offset, record.length);
      return;
    case 'checkpoint':
      return;
    default:
      assertNever(record, 'record');
  }
}
