import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LZ4, type Lz4 } from '../../agent/util/lz4';
import { LZ4_CHUNK_BYTES, RecordsCompressor, unpackRecords } from '../../agent/peer/records-lz4';
import { MAX_FRAME_PAYLOAD } from '../../agent/peer/wire';

const lz4: Lz4 = LZ4 ?? assert.fail('lz4-napi loads in a checkout');
const take = (n: number): Buffer => Buffer.alloc(n);

/** Text-like bytes: compress to well under half. */
function text(bytes: number, seed = 1): Buffer {
  const words = ['alpha ', 'bravo ', 'select * from ', 'INSERT INTO ', '0001 ', '\n', 'kernel: '];
  const out = Buffer.alloc(bytes);
  let at = 0;
  let r = seed;
  while (at < bytes) {
    r = (r * 1103515245 + 12345) >>> 0;
    at += out.write(words[(r >>> 8) % words.length] as string, at);
  }
  return out;
}

async function pack(parts: Buffer[]): Promise<Buffer | undefined> {
  const raw = parts.reduce((n, p) => n + p.length, 0);
  const packed = await new RecordsCompressor(lz4).pack(parts, raw);
  if (packed === undefined) return undefined;
  const payload = Buffer.concat(packed.parts);
  assert.equal(packed.bytes, payload.length, 'the payload length it reports');
  return payload;
}

describe('RECORDS_LZ4 codec', () => {
  it('gives back exactly the payload, whatever its parts and chunk boundaries', async () => {
    const part = fc.oneof(
      fc.integer({ min: 1, max: 3 * LZ4_CHUNK_BYTES }).map((n) => text(n, n)),
      fc.integer({ min: 1, max: 2 * LZ4_CHUNK_BYTES }).map((n) => randomBytes(n)),
      fc.integer({ min: 1, max: 100 }).map((n) => Buffer.alloc(n, 7)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(part, { minLength: 1, maxLength: 12 }), async (parts) => {
        // Mostly text: the whole frame shrinks enough to go compressed.
        const all = [text(4 * LZ4_CHUNK_BYTES), ...parts];
        const packed = await pack(all);
        assert.ok(packed, 'a text-heavy frame is compressed');
        assert.deepEqual(unpackRecords(packed, lz4, take), Buffer.concat(all));
      }),
      { numRuns: 60 },
    );
  });

  it('stores random chunks as they are, and sends an incompressible frame uncompressed', async () => {
    const mixed = [text(2 * LZ4_CHUNK_BYTES), randomBytes(LZ4_CHUNK_BYTES)];
    const packed = await pack(mixed);
    assert.ok(packed);
    // the random chunk stored (its 64 KiB and a word), the text in under half its size
    assert.ok(packed.length > LZ4_CHUNK_BYTES + 8, `${packed.length}`);
    assert.ok(packed.length < 2 * LZ4_CHUNK_BYTES, `${packed.length}`);
    assert.deepEqual(unpackRecords(packed, lz4, take), Buffer.concat(mixed));
    assert.equal(await pack([randomBytes(1024 * 1024)]), undefined);
  });

  it('after a frame that did not pay, skips 1, 2, 4 … frames before trying again', async () => {
    const compressor = new RecordsCompressor(lz4);
    const random = randomBytes(LZ4_CHUNK_BYTES);
    const good = text(LZ4_CHUNK_BYTES);
    const tried = async (data: Buffer): Promise<boolean> =>
      (await compressor.pack([data], data.length)) !== undefined;
    assert.equal(await tried(random), false); // tried, did not pay: skip 1
    assert.equal(await tried(good), false, 'skipped');
    assert.equal(await tried(random), false); // tried again: skip 2
    assert.equal(await tried(good), false);
    assert.equal(await tried(good), false);
    assert.equal(await tried(good), true, 'tried again, and it pays');
    assert.equal(await tried(good), true, 'the back-off is reset');
  });

  it('refuses malformed frames without allocating what they announce', async () => {
    const packed = await pack([text(3 * LZ4_CHUNK_BYTES)]);
    assert.ok(packed);
    let asked = 0;
    const counting = (n: number): Buffer => {
      asked = Math.max(asked, n);
      return Buffer.alloc(n);
    };
    const refuse = (payload: Buffer, message: RegExp): void => {
      assert.throws(
        () => unpackRecords(payload, lz4, counting),
        (err: Error) => {
          assert.match(err.message, /^Peer protocol error: RECORDS_LZ4/);
          assert.match(err.message, message);
          return true;
        },
      );
    };
    const edit = (f: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(packed);
      f(copy);
      return copy;
    };
    refuse(Buffer.alloc(2), /without its length/);
    refuse(
      edit((b) => b.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 0)),
      /announces/,
    );
    refuse(
      edit((b) => b.writeUInt32BE(0, 0)),
      /announces 0/,
    );
    refuse(packed.subarray(0, packed.length - 1), /ends inside a chunk/);
    refuse(Buffer.concat([packed, Buffer.alloc(1)]), /bytes after its data/);
    // The first chunk's LZ4 header claims 1 GiB: refused before lz4 sees it.
    refuse(
      edit((b) => b.writeUInt32LE(1 << 30, 8)),
      /announces a wrong length/,
    );
    // A chunk marked stored, with the compressed chunk's (wrong) length.
    refuse(
      edit((b) => b.writeUInt32BE(0x8000_0000 + b.readUInt32BE(4), 4)),
      /stored chunk of a wrong length/,
    );
    // Corrupt LZ4 data inside the first chunk.
    refuse(
      edit((b) => b.fill(0xff, 12, 40)),
      /does not decompress|wrong length/,
    );
    // A raw length larger than the chunks hold: the frame ends before its data.
    refuse(
      edit((b) => b.writeUInt32BE(4 * LZ4_CHUNK_BYTES, 0)),
      /ends before its data/,
    );
    assert.ok(asked <= 4 * LZ4_CHUNK_BYTES, `allocated at most what was checked (${asked})`);
  });
});
