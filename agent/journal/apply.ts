import { CorruptRecordError, decodeRecord, type StreamRecord } from '../replication/record';
import { assertNever } from '../util/assert-never';
import { BufferPool } from '../util/buffer-pool';
import { JournalCorruptError } from './errors';
import type { JournalLog } from './options';
import type { ReplicaDisk } from './replica';
import type { SegmentFile } from './segment-file';
import { SmallWrites } from './small-writes';

/**
 * Records are read in ranges of whole records of up to this size (a larger record alone),
 * through O_DIRECT into page-aligned buffers: the journal was written around the page cache,
 * and reading it back through it would cost what the append saved (bench/README.md § 13).
 */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** The chunks of every journal's apply (one at a time per journal; a larger record: fresh). */
const CHUNKS = new BufferPool({
  minBytes: 256 * 1024,
  // A range read covers whole blocks around its records: up to 8 KiB more.
  maxBytes: CHUNK_BYTES + 64 * 1024,
  idleBytes: 2 * (CHUNK_BYTES + 64 * 1024),
  aligned: true,
});

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
  /** Told once per process if apply's worker thread cannot run. */
  readonly log?: JournalLog;
}): Promise<Set<ReplicaDisk>> {
  const { vpgId, segments, from, to, replicaFor } = input;
  const touched = new Set<ReplicaDisk>();
  let expected = from;
  // Small records go to the worker in order; anything else waits for them first, so every
  // byte still ends as the last record covering it wrote it.
  const small = new SmallWrites(input.log);
  const apply = async (record: StreamRecord): Promise<void> => {
    switch (record.kind) {
      case 'write':
      case 'seed': {
        const replica = replicaFor(record.diskId);
        if (replica === undefined) return;
        touched.add(replica);
        const target = replica.smallWriteTarget(record.offset, record.data);
        if (target !== undefined) {
          small.add(target, record.offset, record.data);
          return;
        }
        await small.flush();
        await replica.write(record.offset, record.data);
        return;
      }
      case 'zero':
      case 'trim': {
        const replica = replicaFor(record.diskId);
        if (replica === undefined) return;
        touched.add(replica);
        await small.flush();
        await replica.zero(record.offset, record.length);
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
    const last = Math.min(to, segment.lastSeq);
    const { recordPos } = segment.records;
    const endOf = (seq: number): number =>
      seq >= segment.lastSeq ? segment.bytes : (recordPos[segment.row(seq + 1)] as number);
    while (expected <= last) {
      // Whole records, up to CHUNK_BYTES (at least one): the table knows where each ends.
      const start = recordPos[segment.row(expected)] as number;
      let upto = expected;
      while (upto < last && endOf(upto + 1) - start <= CHUNK_BYTES) upto += 1;
      const end = endOf(upto);
      const { buf, at } = await segment.readRange(start, end, (bytes) => CHUNKS.take(bytes));
      try {
        for (let pos = at; expected <= upto;) {
          const position = start + pos - at;
          const bad = (reason: string): JournalCorruptError =>
            new JournalCorruptError(vpgId, segment.name, position, reason);
          let decoded: ReturnType<typeof decodeRecord>;
          try {
            decoded = decodeRecord(buf.subarray(0, at + end - start), pos);
          } catch (err) {
            if (err instanceof CorruptRecordError) throw bad(err.message);
            throw err;
          }
          if (decoded.status !== 'ok') throw bad('incomplete record');
          const { record } = decoded;
          if (record.seq !== expected || record.vpgId !== vpgId) {
            throw bad(`found record ${record.seq} where record ${expected} belongs`);
          }
          await apply(record);
          expected += 1;
          pos += decoded.bytes;
        }
      } finally {
        // The records' data are views into buf: every write is done before it goes back.
        await small.flush().finally(() => CHUNKS.give(buf));
      }
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
