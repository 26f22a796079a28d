import {
  CorruptRecordError,
  decodeRecord,
  encodeRecord,
  type DecodeResult,
  type StreamRecord,
} from '../replication/record';
import { rm } from 'node:fs/promises';
import { fsyncDirectory } from '../store/atomic-file';
import type { SpareFiles } from '../util/spare-files';
import { SegmentFile } from './segment-file';

/** A record to append, with its encoding when the caller already has it (the link's frame). */
export interface BatchItem {
  readonly record: StreamRecord;
  readonly encoded?: Buffer;
}

/** The part of a batch that went to one segment. */
export interface WrittenGroup {
  readonly segment: SegmentFile;
  readonly isNew: boolean;
  readonly records: StreamRecord[];
  readonly buffers: Buffer[];
  bytes: number;
}

/** Decodes one received frame; undefined unless it holds exactly one intact record. */
export function decodeFrame(bytes: Buffer): StreamRecord | undefined {
  let result: DecodeResult;
  try {
    result = decodeRecord(bytes);
  } catch (err) {
    if (err instanceof CorruptRecordError) return undefined;
    throw err;
  }
  return result.status === 'ok' && result.bytes === bytes.length ? result.record : undefined;
}

/**
 * Makes a checked batch durable: encodes what is not encoded yet, splits it over the tail
 * segment and new ones (a segment is rolled when the next record would take it past
 * `segmentBytes`; a record is never split), then per segment one append (O_DIRECT where the
 * file system allows: SegmentFile.append) and one fdatasync, plus one directory fsync when segments were created. Nothing in memory changes:
 * the caller makes the records visible once this resolves. On failure the new segments'
 * handles are closed; their files are dealt with by the next open (an empty last segment is
 * removed, a torn one cut).
 */
export async function writeBatch(input: {
  readonly dir: string;
  readonly tail: SegmentFile | undefined;
  readonly segmentBytes: number;
  readonly batch: readonly BatchItem[];
  /** Released segment files to write new segments over (util/spare-files.ts). */
  readonly spares?: SpareFiles;
}): Promise<WrittenGroup[]> {
  const groups: WrittenGroup[] = [];
  let segment = input.tail;
  let group: WrittenGroup | undefined;
  for (const { record, encoded: given } of input.batch) {
    const encoded = given ?? encodeRecord(record);
    const used = segment === undefined ? 0 : segment.bytes + (group?.bytes ?? 0);
    if (segment === undefined || (used > 0 && used + encoded.length > input.segmentBytes)) {
      segment = new SegmentFile(input.dir, record.seq);
      group = { segment, isNew: true, buffers: [], records: [], bytes: 0 };
      groups.push(group);
    } else if (group === undefined) {
      group = { segment, isNew: false, buffers: [], records: [], bytes: 0 };
      groups.push(group);
    }
    group.buffers.push(encoded);
    group.records.push(record);
    group.bytes += encoded.length;
  }
  try {
    for (const g of groups) {
      const handle = g.isNew ? await g.segment.create(input.spares) : await g.segment.file();
      await g.segment.append(g.buffers, g.bytes);
      await handle.datasync();
    }
    if (groups.some((g) => g.isNew)) await fsyncDirectory(input.dir);
  } catch (err) {
    // Undone: the tail segment back to its valid length and the new segments gone, so the
    // files are as before the batch and it can be tried again (after a full disk).
    await Promise.all(
      groups.map(async (g) => {
        if (g.isNew) {
          await g.segment.close();
          await rm(g.segment.path, { force: true });
        } else {
          await (await g.segment.file()).truncate(g.segment.bytes);
        }
      }),
    ).catch(() => undefined); // then the journal fails, and its next open cuts the tail
    throw err;
  }
  return groups;
}
