import { CorruptRecordError, decodeRecord, type StreamRecord } from '../replication/record';
import { assertNever } from '../util/assert-never';
import { BufferPool } from '../util/buffer-pool';
import { DIRECT_MIN_BYTES } from '../util/direct-io';
import { JournalCorruptError } from './errors';
import type { ReplicaDisk } from './replica';
import type { SegmentFile } from './segment-file';

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
 * Small replica writes of one range in flight at once. Each costs a thread-pool round trip;
 * one after the other they left three of the pool's four threads idle (bench:journal, 4 KiB
 * records: bench/README.md § 18).
 */
const MAX_IN_FLIGHT = 16;

/**
 * Replica writes running together. A write that overlaps one still running on the same
 * replica waits for all of them first, so each byte still ends as the last record covering
 * it wrote it, as in seq order.
 */
class InFlight {
  private readonly running: {
    readonly replica: ReplicaDisk;
    readonly start: number;
    readonly end: number;
  }[] = [];
  private promises: Promise<void>[] = [];
  private failure: { err: unknown } | undefined;

  async add(replica: ReplicaDisk, start: number, end: number, run: () => Promise<void>) {
    const overlaps = this.running.some(
      (r) => r.replica === replica && r.start < end && start < r.end,
    );
    // A large one goes alone: several O_DIRECT writes at once were slower (§ 18).
    const large = end - start >= DIRECT_MIN_BYTES;
    if (overlaps || large || this.promises.length >= MAX_IN_FLIGHT) await this.drain();
    if (large) {
      await run();
      return;
    }
    this.running.push({ replica, start, end });
    this.promises.push(
      run().catch((err: unknown) => {
        this.failure ??= { err };
      }),
    );
  }

  /** Waits for every write; the first failure is thrown once all have settled. */
  async drain(): Promise<void> {
    await Promise.all(this.promises);
    this.promises = [];
    this.running.length = 0;
    if (this.failure !== undefined) throw this.failure.err;
  }
}

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
  const writes = new InFlight();
  const apply = async (record: StreamRecord): Promise<void> => {
    switch (record.kind) {
      case 'write':
      case 'seed': {
        const replica = replicaFor(record.diskId);
        if (replica === undefined) return;
        const { offset, data } = record;
        await writes.add(replica, offset, offset + data.length, () => replica.write(offset, data));
        touched.add(replica);
        return;
      }
      case 'zero':
      case 'trim': {
        const replica = replicaFor(record.diskId);
        if (replica === undefined) return;
        const { offset, length } = record;
        await writes.add(replica, offset, offset + length, () => replica.zero(offset, length));
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
        await writes.drain().finally(() => CHUNKS.give(buf));
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
