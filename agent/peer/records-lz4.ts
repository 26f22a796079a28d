import { BufferPool } from '../util/buffer-pool';
import type { Lz4 } from '../util/lz4';
import { MAX_FRAME_PAYLOAD, protocolError } from './wire';

/**
 * RECORDS_LZ4 (peer protocol 2): a RECORDS payload compressed in chunks.
 *
 *   u32 rawLength                       the RECORDS payload's length (≤ MAX_FRAME_PAYLOAD)
 *   then per chunk of CHUNK_BYTES raw bytes (the last one shorter):
 *     u32 word                          bit 31 set: stored as is, the low bits its length;
 *                                       clear: the length of an LZ4 block (lz4-napi's, whose
 *                                       first 4 bytes are the chunk's raw length, LE)
 *     the chunk's bytes
 *
 * All integers big-endian as the rest of the wire. Chunks of 64 KiB: lz4_flex compresses them
 * at ≈ 1 GB/s on text and binaries and 5 GB/s on random data (1 MiB chunks of random data ran
 * at 160 MB/s), they compress in parallel on the thread pool, and a chunk that does not shrink
 * is stored. The records inside keep their own CRCs, checked after decompression as always:
 * compression is invisible to the journal.
 */
export const LZ4_CHUNK_BYTES = 64 * 1024;
const STORED = 0x8000_0000;
/** A frame is sent compressed only when that saves at least 1/16 of it. */
const MIN_SAVING = 1 / 16;
/** After a frame that did not shrink, up to this many frames go uncompressed before a retry. */
const MAX_SKIP_FRAMES = 64;

/**
 * Chunks that span two records are copied together into these (most of them with 4 KiB
 * writes): fresh ones were 1 MiB of garbage per frame, and the source's RSS passed 300 MiB
 * with 21 disks compressing.
 */
const STAGING_POOL = new BufferPool({
  minBytes: LZ4_CHUNK_BYTES,
  maxBytes: LZ4_CHUNK_BYTES,
  idleBytes: 4 * 1024 * 1024,
});

/** A RECORDS_LZ4 payload: its parts, to write without copying, and their length. */
export interface PackedRecords {
  readonly parts: Buffer[];
  readonly bytes: number;
}

/**
 * Compresses a link's RECORDS payloads. Incompressible data (encrypted or compressed guest
 * disks) costs a try now and then only: after a frame that did not pay, the next 1, 2, 4 …
 * up to 64 frames are sent as they are.
 */
export class RecordsCompressor {
  private skip = 0;
  private backoff = 0;

  constructor(private readonly lz4: Lz4) {}

  /** The RECORDS_LZ4 payload, or undefined: send the RECORDS payload as it is. */
  async pack(parts: readonly Buffer[], rawLength: number): Promise<PackedRecords | undefined> {
    if (this.skip > 0) {
      this.skip -= 1;
      return undefined;
    }
    const staged = new Set<Buffer>();
    const chunks = splitChunks(parts, rawLength, staged);
    const blocks = await Promise.all(chunks.map((chunk) => this.lz4.compress(chunk)));
    // A chunk that does not shrink goes as it is.
    const bodies = chunks.map((chunk, i) => {
      const block = blocks[i] as Buffer;
      return block.length < chunk.length ? block : chunk;
    });
    const bytes = bodies.reduce((n, body) => n + 4 + body.length, 4);
    const pays = bytes <= rawLength * (1 - MIN_SAVING);
    // A staging chunk stored in a frame that goes on the wire stays out of the pool.
    for (const [i, chunk] of chunks.entries()) {
      if (staged.has(chunk) && !(pays && bodies[i] === chunk)) STAGING_POOL.give(chunk);
    }
    if (!pays) {
      this.backoff = Math.min(MAX_SKIP_FRAMES, Math.max(1, this.backoff * 2));
      this.skip = this.backoff;
      return undefined;
    }
    this.backoff = 0;
    const out: Buffer[] = [u32(rawLength)];
    chunks.forEach((chunk, i) => {
      const body = bodies[i] as Buffer;
      out.push(u32(body === chunk ? STORED + chunk.length : body.length), body);
    });
    return { parts: out, bytes };
  }
}

/**
 * The RECORDS payload a RECORDS_LZ4 payload stands for, in a buffer from `take`. Anything
 * malformed is a protocol error; no length is trusted before it is checked against the frame
 * and the limit, so a peer cannot make this allocate more than MAX_FRAME_PAYLOAD.
 */
export function unpackRecords(payload: Buffer, lz4: Lz4, take: (n: number) => Buffer): Buffer {
  if (payload.length < 4) throw protocolError('RECORDS_LZ4 frame without its length');
  const rawLength = payload.readUInt32BE(0);
  if (rawLength === 0 || rawLength > MAX_FRAME_PAYLOAD) {
    throw protocolError(`RECORDS_LZ4 frame announces ${rawLength} bytes`);
  }
  const out = take(rawLength);
  let at = 4;
  let filled = 0;
  while (filled < rawLength) {
    const expected = Math.min(LZ4_CHUNK_BYTES, rawLength - filled);
    if (at + 4 > payload.length) throw protocolError('RECORDS_LZ4 frame ends before its data');
    const word = payload.readUInt32BE(at);
    at += 4;
    const stored = word >= STORED;
    const length = word & 0x7fff_ffff;
    if (at + length > payload.length) throw protocolError('RECORDS_LZ4 frame ends inside a chunk');
    const body = payload.subarray(at, at + length);
    at += length;
    if (stored) {
      if (length !== expected) throw protocolError('RECORDS_LZ4 stored chunk of a wrong length');
      body.copy(out, filled);
    } else {
      // lz4-napi allocates what the block's own header announces: check it first.
      if (length < 4 || body.readUInt32LE(0) !== expected) {
        throw protocolError('RECORDS_LZ4 chunk announces a wrong length');
      }
      let chunk: Buffer;
      try {
        chunk = lz4.uncompressSync(body);
      } catch (err) {
        throw protocolError(
          `RECORDS_LZ4 chunk does not decompress (${err instanceof Error ? err.message : String(err)})`,
        );
      }
      if (chunk.length !== expected) throw protocolError('RECORDS_LZ4 chunk of a wrong length');
      chunk.copy(out, filled);
    }
    filled += expected;
  }
  if (at !== payload.length) throw protocolError('RECORDS_LZ4 frame has bytes after its data');
  return out;
}

/**
 * Views of `parts` in CHUNK_BYTES pieces; a piece that spans two parts is copied together into
 * a staging buffer, added to `stagedChunks`.
 */
function splitChunks(
  parts: readonly Buffer[],
  rawLength: number,
  stagedChunks: Set<Buffer>,
): Buffer[] {
  const chunks: Buffer[] = [];
  let staging: Buffer | undefined;
  let staged = 0;
  let remaining = rawLength;
  for (const part of parts) {
    let at = 0;
    while (at < part.length) {
      const want = Math.min(LZ4_CHUNK_BYTES, remaining);
      if (staging === undefined && part.length - at >= want) {
        chunks.push(part.subarray(at, at + want));
        at += want;
        remaining -= want;
        continue;
      }
      if (staging === undefined) {
        staging = STAGING_POOL.take(want);
        stagedChunks.add(staging);
      }
      const n = Math.min(want - staged, part.length - at);
      part.copy(staging, staged, at, at + n);
      staged += n;
      at += n;
      if (staged === want) {
        chunks.push(staging);
        remaining -= want;
        staging = undefined;
        staged = 0;
      }
    }
  }
  if (remaining !== 0 || staging !== undefined) {
    throw new RangeError(`RECORDS parts hold other than ${rawLength} bytes`);
  }
  return chunks;
}

function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value, 0);
  return out;
}
