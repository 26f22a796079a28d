import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FrameDecoder, FrameTooLargeError } from '../../agent/peer/frame-decoder';
import { BufferPool } from '../../agent/util/buffer-pool';
import {
  batchRecords,
  decodeRecordsPayload,
  verifyRecordsPayload,
} from '../../agent/peer/records-frame';
import { RecordWindow } from '../../agent/peer/record-window';
import { PairingTokens } from '../../agent/peer/pairing-tokens';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  decodeVpgRef,
  decodeVpgSeq,
  encodeFrame,
  encodeVpgRef,
  encodeVpgSeq,
  type Frame,
  type FrameTypeCode,
} from '../../agent/peer/wire';
import { encodeRecord } from '../../agent/replication/record';
import { Prng } from '../../agent/hypervisor/sim/prng';

const TYPES = Object.values(FrameType) as FrameTypeCode[];

function randomFrames(count: number, rand: () => number): Frame[] {
  return Array.from({ length: count }, (_, i) => {
    const size =
      i % 17 === 0
        ? 0
        : i % 23 === 0
          ? 70_000 + Math.floor(rand() * 20_000)
          : Math.floor(rand() * 3000);
    return { type: TYPES[i % TYPES.length] ?? 1, payload: randomBytes(size) };
  });
}

function decodeAll(decoder: FrameDecoder, chunks: readonly Buffer[]): Frame[] {
  const out: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      out.push({ type: f.type, payload: Buffer.from(f.payload) });
    }
  }
  return out;
}

function chunked(stream: Buffer, rand: () => number, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length;) {
    const size = 1 + Math.floor(rand() * maxChunk);
    chunks.push(stream.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe('peer frame codec', () => {
  it('round-trips frames of every type, whole stream in one chunk', () => {
    const prng = new Prng('frames-1');
    const frames = randomFrames(60, () => prng.next());
    const stream = Buffer.concat(
      frames.map((f) => encodeFrame(f.type as FrameTypeCode, f.payload)),
    );
    const decoder = new FrameDecoder(1024 * 1024);
    assert.deepEqual(decodeAll(decoder, [stream]), frames);
    assert.equal(decoder.bufferedBytes, 0);
  });

  it('decodes the same frames under random chunking (1-byte chunks to 64 KiB chunks)', () => {
    const prng = new Prng('frames-7');
    const rand = (): number => prng.next();
    const frames = randomFrames(80, rand);
    const stream = Buffer.concat(
      frames.map((f) => encodeFrame(f.type as FrameTypeCode, f.payload)),
    );
    for (const maxChunk of [1, 3, 7, 64, 1500, 16_384, 65_536]) {
      for (let round = 0; round < 3; round++) {
        const chunks = chunked(stream, rand, maxChunk);
        const decoder = new FrameDecoder(1024 * 1024);
        const decoded = decodeAll(decoder, chunks);
        assert.equal(decoded.length, frames.length, `maxChunk ${maxChunk}`);
        assert.deepEqual(decoded, frames, `maxChunk ${maxChunk}`);
        assert.equal(decoder.bufferedBytes, 0);
      }
    }
  });

  it('refuses an oversized frame from its header, before the payload arrives', () => {
    const decoder = new FrameDecoder(64 * 1024);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(64 * 1024 + 1, 0);
    header.writeUInt8(FrameType.RECORDS, 4);
    decoder.push(header.subarray(0, 3));
    assert.equal(decoder.next(), undefined);
    decoder.push(header.subarray(3));
    assert.throws(
      () => decoder.next(),
      (err: unknown) =>
        err instanceof FrameTooLargeError &&
        err.code === 'FRAME_TOO_LARGE' &&
        err.size === 64 * 1024 + 1 &&
        /over the limit of 65536 bytes \(64 KiB\)/.test(err.message),
    );
    // exactly at the limit is fine
    const ok = new FrameDecoder(10);
    ok.push(encodeFrame(FrameType.CONTROL, Buffer.alloc(10, 1)));
    assert.equal(ok.next()?.payload.length, 10);
  });

  it('assembles large split payloads in pooled buffers, reused once given back', () => {
    const pool = new BufferPool({
      minBytes: 64 * 1024,
      maxBytes: 64 * 1024,
      idleBytes: 128 * 1024,
    });
    const decoder = new FrameDecoder(1024 * 1024, pool);
    const payloads = Array.from({ length: 6 }, (_, i) => randomBytes(40_000 + i * 1000));
    const stream = Buffer.concat(payloads.map((p) => encodeFrame(FrameType.RECORDS, p)));
    const got: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 1500) {
      decoder.push(stream.subarray(at, at + 1500));
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        // Compared before it is given back: the next frame may be assembled in its memory.
        assert.deepEqual(frame.payload, payloads[got.length]);
        got.push(frame.payload);
        pool.give(frame.payload);
        pool.give(frame.payload); // a second give is ignored
      }
    }
    assert.equal(got.length, payloads.length);
    assert.deepEqual(pool.stats(), { reused: 5, allocated: 1, idleBytes: 64 * 1024 });
    // Not the pool's: ignored. A small payload (under half the smallest class) is not pooled.
    pool.give(Buffer.alloc(64 * 1024));
    const small = new FrameDecoder(1024 * 1024, pool);
    const frame = encodeFrame(FrameType.RECORDS, randomBytes(20_000));
    small.push(frame.subarray(0, 1000));
    small.push(frame.subarray(1000));
    assert.equal(small.next()?.payload.length, 20_000);
    assert.deepEqual(pool.stats(), { reused: 5, allocated: 1, idleBytes: 64 * 1024 });
  });

  it('applies a raised limit to the next frame of the same chunk', () => {
    const decoder = new FrameDecoder(16);
    decoder.push(
      Buffer.concat([
        encodeFrame(FrameType.HELLO, Buffer.alloc(8)),
        encodeFrame(FrameType.RECORDS, Buffer.alloc(1000)),
      ]),
    );
    assert.equal(decoder.next()?.type, FrameType.HELLO);
    decoder.maxPayload = 2000;
    assert.equal(decoder.next()?.payload.length, 1000);
  });

  it('encodes ACK/POSITION and POSITION_REQUEST payloads and refuses malformed ones', () => {
    assert.deepEqual(decodeVpgSeq(encodeVpgSeq('vpg-1', 2 ** 40 + 3), 'ACK'), {
      vpgId: 'vpg-1',
      seq: 2 ** 40 + 3,
    });
    assert.equal(decodeVpgRef(encodeVpgRef('vpg-ü'), 'POSITION_REQUEST'), 'vpg-ü');
    assert.throws(() => decodeVpgSeq(Buffer.from([0, 5, 1]), 'ACK'), /Peer protocol error/);
    assert.throws(
      () => decodeVpgSeq(Buffer.concat([encodeVpgSeq('v', 1), Buffer.from([0])]), 'ACK'),
      /bad length/,
    );
    assert.throws(() => decodeVpgRef(Buffer.from([0, 0]), 'POSITION_REQUEST'), /bad VPG id/);
  });
});

describe('RECORDS batches', () => {
  const record = (seq: number, bytes: number, vpgId = 'vpg-1'): Buffer =>
    encodeRecord({
      kind: 'write',
      vpgId,
      seq,
      sourceTime: 1_700_000_000_000 + seq,
      diskId: 'disk-1',
      offset: seq * 4096,
      data: Buffer.alloc(bytes, seq & 0xff),
    });

  it('batches records into frames of about the batch size, each decodable and in order', () => {
    const records = Array.from({ length: 40 }, (_, i) => record(i + 1, 1000));
    const batches = batchRecords('vpg-1', records, 8 * 1024);
    assert.ok(batches.length >= 5 && batches.length <= 6);
    let seq = 1;
    for (const batch of batches) {
      assert.ok(batch.bytes <= 8 * 1024);
      const { vpgId, records: got } = decodeRecordsPayload(Buffer.concat(batch.parts));
      assert.equal(vpgId, 'vpg-1');
      for (const r of got) {
        assert.equal(r.record.seq, seq++);
        assert.deepEqual(r.encoded, records[r.record.seq - 1]);
      }
      assert.equal(batch.lastSeq, seq - 1);
    }
    assert.equal(seq, 41);
    // a record bigger than the batch size goes alone
    const big = batchRecords('vpg-1', [record(1, 10), record(2, 20_000), record(3, 10)], 8 * 1024);
    assert.deepEqual(
      big.map((b) => b.lastSeq),
      [1, 2, 3],
    );
  });

  it('refuses records of another VPG or not exactly one record per buffer', () => {
    assert.throws(() => batchRecords('vpg-1', [record(1, 10, 'vpg-2')], 1024), /another VPG/);
    const two = Buffer.concat([record(1, 10), record(2, 10)]);
    assert.throws(() => batchRecords('vpg-1', [two], 1024), /not exactly one record/);
  });

  it('refuses a corrupt record in a received frame', () => {
    const [batch] = batchRecords('vpg-1', [record(1, 100), record(2, 100)], 1024);
    assert.ok(batch);
    const payload = Buffer.concat(batch.parts);
    const at = payload.length - 30;
    payload.writeUInt8((payload.readUInt8(at) ^ 0xff) & 0xff, at);
    assert.throws(() => decodeRecordsPayload(payload), /record 2 .* is corrupt/);
    // Checked on arrival without decoding; decoded later without checking again.
    assert.throws(() => verifyRecordsPayload(payload), /record 2 .* is corrupt \(record checksum/);
    assert.equal(decodeRecordsPayload(payload, { checksums: false }).records.length, 2);
    const intact = Buffer.concat(batch.parts); // the records as sent, not the damaged copy
    assert.equal(verifyRecordsPayload(intact), 'vpg-1');
    assert.throws(
      () => verifyRecordsPayload(intact.subarray(0, intact.length - 10)),
      /ends inside a record/,
    );
  });
});

describe('record window', () => {
  it('lets a batch go while it fits, holds the next until an ack makes room', async () => {
    const window = new RecordWindow(100);
    await window.acquire('v', 1, 60);
    await window.acquire('v', 2, 40);
    let third = false;
    const pending = window.acquire('v', 3, 30).then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false);
    assert.equal(window.unacked('v'), 100);
    window.release('v', 1);
    await pending;
    assert.equal(window.unacked('v'), 70);
    // a batch bigger than the window goes when nothing is in flight
    window.release('v', 3);
    await window.acquire('v', 4, 500);
    const failed = window.acquire('v', 5, 1);
    window.reset(new Error('down'));
    await assert.rejects(failed, /down/);
    assert.equal(window.unacked('v'), 0);
  });
});

describe('pairing tokens', () => {
  it('are single use, expire, and are unknown after a restart (new instance)', () => {
    let now = 1_000_000;
    const tokens = new PairingTokens({ ttlMs: 600_000, now: () => now });
    const { token, expiresAt } = tokens.issue();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt, now + 600_000);
    assert.equal(tokens.check(token), 'ok');
    tokens.consume(token);
    assert.equal(tokens.check(token), 'used');
    const second = tokens.issue().token;
    now += 600_000;
    assert.equal(tokens.check(second), 'expired');
    assert.equal(tokens.check('x'.repeat(43)), 'unknown');
    assert.equal(new PairingTokens().check(second), 'unknown');
  });
});
