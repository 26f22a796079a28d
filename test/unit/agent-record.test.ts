import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CorruptRecordError,
  decodeRecord,
  encodeRecord,
  encodeRecordParts,
  encodedSize,
  type StreamRecord,
} from '../../agent/replication/record';

const records: StreamRecord[] = [
  {
    vpgId: 'vpg-1',
    seq: 1,
    sourceTime: 1_700_000_000_123,
    kind: 'write',
    diskId: 'd1',
    offset: 4096,
    data: Buffer.from('hello'),
  },
  {
    vpgId: 'vpg-1',
    seq: 2,
    sourceTime: 1_700_000_000_124,
    kind: 'seed',
    diskId: 'd2',
    offset: 2 ** 40,
    data: Buffer.alloc(65536, 7),
  },
  {
    vpgId: 'vpg-1',
    seq: 3,
    sourceTime: 1_700_000_000_125,
    kind: 'zero',
    diskId: 'd1',
    offset: 0,
    length: 2 ** 33,
  },
  {
    vpgId: 'vpg-1',
    seq: 4,
    sourceTime: 1_700_000_000_126,
    kind: 'trim',
    diskId: 'd2',
    offset: 512,
    length: 512,
  },
  { vpgId: 'vpg-1', seq: 5, sourceTime: 1_700_000_000_127, kind: 'checkpoint' },
  { vpgId: 'vpg-1', seq: 6, sourceTime: 1_700_000_000_128, kind: 'checkpoint', inconsistent: true },
  {
    vpgId: 'vpg-1',
    seq: Number.MAX_SAFE_INTEGER,
    sourceTime: 1,
    kind: 'checkpoint',
    name: 'before upgrade ✓',
  },
];

test('every kind of record survives encode → decode, back to back in one buffer', () => {
  const buf = Buffer.concat(records.map(encodeRecord));
  let at = 0;
  for (const expected of records) {
    const out = decodeRecord(buf, at);
    assert.equal(out.status, 'ok');
    if (out.status !== 'ok') return;
    assert.deepEqual(out.record, expected);
    assert.equal(out.bytes, encodedSize(expected));
    at += out.bytes;
  }
  assert.equal(at, buf.length);
});

test('encodeRecordParts gives the same bytes, with the data not copied', () => {
  for (const record of records) {
    const parts = encodeRecordParts(record);
    assert.deepEqual(Buffer.concat(parts), encodeRecord(record), `${record.kind} ${record.seq}`);
    if ('data' in record) assert.equal(parts[1], record.data);
    else assert.equal(parts.length, 1);
  }
});

test('a record cut anywhere is incomplete, never misread', () => {
  const buf = encodeRecord(records[1] as StreamRecord);
  for (const cut of [0, 3, 4, 47, 48, 1000, buf.length - 1]) {
    assert.equal(decodeRecord(buf.subarray(0, cut)).status, 'incomplete', `cut at ${cut}`);
  }
});

test('any flipped bit is caught by the checksum or the header checks', () => {
  const buf = encodeRecord(records[0] as StreamRecord);
  for (let bit = 0; bit < buf.length * 8; bit += 7) {
    const bad = Buffer.from(buf);
    bad[bit >> 3] = (bad[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    let result: ReturnType<typeof decodeRecord> | undefined;
    try {
      result = decodeRecord(bad);
    } catch (err) {
      assert.ok(err instanceof CorruptRecordError);
      continue;
    }
    // Flipping the length field upwards can only make the record look incomplete.
    assert.equal(result.status, 'incomplete', `bit ${bit} went unnoticed`);
  }
});

test('refuses what it cannot encode', () => {
  const base = { vpgId: 'v', sourceTime: 0, kind: 'write' as const, diskId: 'd', offset: 0 };
  assert.throws(() => encodeRecord({ ...base, seq: 0, data: Buffer.alloc(1) }), RangeError);
  assert.throws(
    () => encodeRecord({ ...base, seq: 1, data: Buffer.alloc(32 * 1024 * 1024 + 1) }),
    RangeError,
  );
});
