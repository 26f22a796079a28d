/**
 * The test oracle for guest disks: reads the records area of a raw image (a file, e.g. a disk
 * exported from Tideline, or a buffer) and says how many records are there in order from 0,
 * and whether any valid record follows the first gap (which a write order that respects the
 * guest's flushes can never produce).
 */
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { GUEST_LAYOUT } from './guest-layout';

const RECORD_MAGIC = Buffer.from('TLREC001', 'ascii');
const OWNER_MAGIC = 'TLOWNER1 ';
const BOOTS_MAGIC = 'TLBOOTS1 ';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ReadGuestRecordsOptions {
  /** Byte offset of partition 2 in the image; default: from the MBR, else the layout's. */
  readonly partitionOffset?: number;
  /** Scan at most this many record slots (default: the whole area). */
  readonly limit?: number;
  /** Count records of this writer; default: the owner sector's UUID. */
  readonly owner?: string;
}

export interface GuestRecords {
  /** Consecutive valid records from index 0. */
  readonly records: number;
  /** No valid record after the first invalid slot (within the scanned slots). */
  readonly gapFree: boolean;
  /** The first index without a valid record (= records). */
  readonly firstInvalid: number;
  /** The owner sector's UUID (the first domain that wrote), if any. */
  readonly owner: string | undefined;
  /** Valid records found after the first gap (0 when gapFree). */
  readonly validAfterGap: number;
  /** The highest valid index, or -1. */
  readonly lastValid: number;
  /** The boot counter the writer keeps (0 when never written). */
  readonly boots: number;
  /** Record slots scanned. */
  readonly scanned: number;
  /** Byte offset of partition 2 used. */
  readonly partitionOffset: number;
}

/** Random access to an image, whichever form it comes in. */
interface Source {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

async function openSource(image: string | Buffer): Promise<Source> {
  if (Buffer.isBuffer(image)) {
    return {
      size: image.length,
      read: async (offset, length) => image.subarray(offset, offset + length),
      close: async () => undefined,
    };
  }
  const handle = await open(image, 'r');
  const { size } = await handle.stat();
  return {
    size,
    read: async (offset, length) => {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      let done = 0;
      while (done < buffer.length) {
        const { bytesRead } = await handle.read(buffer, done, buffer.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buffer.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

/** Partition 2's offset from a DOS partition table, when the image has one. */
function mbrPartition2(mbr: Buffer): number | undefined {
  if (mbr.length < 512 || mbr.readUInt16LE(510) !== 0xaa55) return undefined;
  const entry = 446 + 16;
  const lba = mbr.readUInt32LE(entry + 8);
  const sectors = mbr.readUInt32LE(entry + 12);
  return lba > 0 && sectors > 0 ? lba * GUEST_LAYOUT.sectorSize : undefined;
}

function text(sector: Buffer, magic: string): string | undefined {
  if (sector.toString('latin1', 0, magic.length) !== magic) return undefined;
  const rest = sector.toString('latin1', magic.length);
  return rest.slice(0, rest.search(/[\n\0]|$/));
}

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

/** Whether `record` is a valid record of `index` written by `writer` (16 bytes). */
export function isValidRecord(record: Buffer, index: number, writer: Buffer | undefined): boolean {
  const size = GUEST_LAYOUT.recordSize;
  if (record.length < size) return false;
  if (!record.subarray(0, 8).equals(RECORD_MAGIC)) return false;
  if (record.readUInt32LE(8) !== index) return false;
  if (writer && !record.subarray(12, 28).equals(writer)) return false;
  return record.readUInt32LE(size - 4) === crc32(record.subarray(0, size - 4));
}

/** The records of a guest disk image; see GuestRecords. */
export async function readGuestRecords(
  image: string | Buffer,
  options: ReadGuestRecordsOptions = {},
): Promise<GuestRecords> {
  const source = await openSource(image);
  try {
    const partitionOffset =
      options.partitionOffset ??
      mbrPartition2(await source.read(0, 512)) ??
      GUEST_LAYOUT.recordsPartitionOffset;
    const header = await source.read(partitionOffset, GUEST_LAYOUT.firstRecordOffset);
    const sector = (offset: number) => header.subarray(offset, offset + GUEST_LAYOUT.sectorSize);
    const ownerText = text(sector(GUEST_LAYOUT.ownerOffset), OWNER_MAGIC)?.toLowerCase();
    const owner = ownerText !== undefined && UUID.test(ownerText) ? ownerText : undefined;
    const boots = Number(text(sector(GUEST_LAYOUT.bootCountOffset), BOOTS_MAGIC) ?? 0) || 0;
    const writer = options.owner ?? owner;
    // With no owner there is no writer: nothing counts as valid.
    const writerBytes = writer === undefined ? undefined : uuidBytes(writer);

    const first = partitionOffset + GUEST_LAYOUT.firstRecordOffset;
    const size = GUEST_LAYOUT.recordSize;
    const slots = Math.max(0, Math.floor((source.size - first) / size));
    const scanned = Math.min(slots, options.limit ?? slots);
    let firstInvalid = -1;
    let validAfterGap = 0;
    let lastValid = -1;
    const perChunk = 8192; // 4 MiB of records per read
    for (let base = 0; base < scanned; base += perChunk) {
      const count = Math.min(perChunk, scanned - base);
      const chunk = await source.read(first + base * size, count * size);
      for (let i = 0; i < count; i++) {
        const index = base + i;
        const record = chunk.subarray(i * size, (i + 1) * size);
        const valid = writerBytes !== undefined && isValidRecord(record, index, writerBytes);
        if (valid) {
          lastValid = index;
          if (firstInvalid >= 0) validAfterGap++;
        } else if (firstInvalid < 0) {
          firstInvalid = index;
        }
      }
    }
    if (firstInvalid < 0) firstInvalid = scanned;
    return {
      records: firstInvalid,
      gapFree: validAfterGap === 0,
      firstInvalid,
      owner,
      validAfterGap,
      lastValid,
      boots,
      scanned,
      partitionOffset,
    };
  } finally {
    await source.close();
  }
}
