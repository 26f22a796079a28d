import type { StreamRecord } from '../replication/record';
import { assertNever } from '../util/assert-never';
import { JournalCorruptError } from './errors';
import type { ReplicaDisk } from './replica';
import type { SegmentFile } from './segment-file';
import { scanRecords } from './segment-scan';

/**
 * Writes the records with seq in [from, to] to the replica files, in seq order, reading the
 * segments sequentially in large chunks (checksums are verified again: a segment damaged
 * since open must not reach the replica). Returns the replicas it wrote, which the caller
 * syncs before it moves appliedSeq. Applying a range twice leaves the same bytes: the last
 * record covering a byte wins either way.
 */
export async function applyRecords(input: {
  readonly vpgId: string;
  readonly segments: readonly SegmentFile[];
  readonly from: number;
  readonly to: number;
  readonly replicaFor: (diskId: string) => ReplicaDisk | undefined;
}): Promise<Set<ReplicaDisk>> {
  const { vpgId, segments, from, to, replicaFor } = input;
  const touched = new Set<ReplicaDisk>();
  let expected = from;
  const apply = async (record: StreamRecord): Promise<void> => {
    switch (record.kind) {
      case 'write':
      case 'seed': {
        const replica = replicaFor(record.diskId);
        if (replica === undefined) return;
        await replica.write(record.offset, record.data);
        touched.add(replica);
        return;
      }
      case 'zero':
      case 'trim': {
        const replica = replicaFor(record.diskId);
        if (replica === undefined) return;
        await replica.zero(record.offset, record.length);
        touched.add(replica);
        return;
      }
      case 'checkpoint':
        return;
      default:
        assertNever(record, 'record kind');
    }
  };
  for (const segment of segments) {
    if (expected > to) break;
    if (segment.lastSeq < expected) continue;
    const start = segment.records.recordPos[segment.row(expected)] as number;
    const outcome = await scanRecords(
      await segment.file(),
      start,
      segment.bytes,
      async (record, position) => {
        if (record.seq !== expected || record.vpgId !== vpgId) {
          throw new JournalCorruptError(
            vpgId,
            segment.name,
            position,
            `found record ${record.seq} where record ${expected} belongs`,
          );
        }
        await apply(record);
        expected += 1;
        return expected <= to;
      },
    );
    if (outcome.bad !== undefined) {
      throw new JournalCorruptError(vpgId, segment.name, outcome.bad.position, outcome.bad.reason);
    }
  }
  if (expected <= to) {
    throw new JournalCorruptError(
      vpgId,
      segments.at(-1)?.name ?? '(no segment)',
      0,
      `records ${expected} to ${to} are missing`,
    );
  }
  return touched;
}
