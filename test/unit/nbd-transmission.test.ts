import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TidelineError } from '../../app/errors';
import { errnoOf } from '../../agent/nbd/errno';
import { DISK_BYTES, nbdRig, type NbdRig } from './nbd-rig';
import { WireClient } from './nbd-wire-client';

const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, CACHE: 5, WRITE_ZEROES: 6 };
const FUA = 1;
const NO_HOLE = 2;
const FAST_ZERO = 16;
const EINVAL = 22;
const MAX = 32 * 1024 * 1024;

let rig: NbdRig;
before(async () => {
  rig = await nbdRig({ maxInFlight: 4, maxBufferedBytes: 256 * 1024 });
});
after(async () => {
  await rig.close();
});

async function open(name = 'raw-1'): Promise<WireClient> {
  const c = await WireClient.connect(rig.socketPath);
  assert.equal(await c.open(name), DISK_BYTES);
  return c;
}

async function readData(c: WireClient, cookie: bigint, offset: number, length: number) {
  c.request(CMD.READ, cookie, offset, length);
  const reply = await c.readReply();
  assert.deepEqual(reply, { error: 0, cookie });
  return Buffer.from(await c.read(length));
}

/** Waits until the tap no longer holds the disk (the last connection released it). */
async function released(diskId: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    try {
      rig.tap.disk(diskId);
    } catch {
      return;
    }
    await sleep(10);
  }
  assert.fail(`disk ${diskId} is still attached to the tap`);
}

test('writes land in the file and read back; FUA, flush, trim and write-zeroes', async () => {
  const c = await open();
  const data = randomBytes(64 * 1024);
  c.request(CMD.WRITE, 1n, 8192, data.length, { payload: data, flags: FUA });
  assert.deepEqual(await c.readReply(), { error: 0, cookie: 1n });
  assert.deepEqual(await readData(c, 2n, 8192, data.length), data);
  const file = await readFile(rig.path('raw-1'));
  assert.deepEqual(file.subarray(8192, 8192 + data.length), data);

  c.request(CMD.WRITE_ZEROES, 3n, 8192, 4096, { flags: NO_HOLE | FUA });
  c.request(CMD.TRIM, 4n, 8192 + 4096, 4096);
  c.request(CMD.FLUSH, 5n, 0, 0);
  const cookies = new Set<bigint>();
  for (let i = 0; i < 3; i += 1) {
    const reply = await c.readReply();
    assert.equal(reply.error, 0);
    cookies.add(reply.cookie);
  }
  assert.deepEqual(cookies, new Set([3n, 4n, 5n]));
  const after = await readData(c, 6n, 8192, 16384);
  assert.ok(after.subarray(0, 8192).every((b) => b === 0));
  assert.deepEqual(after.subarray(8192), data.subarray(8192, 16384));
  c.close();
});

test('many pipelined requests (past the in-flight limit) are all answered by cookie', async () => {
  const c = await open();
  const blocks = 200;
  const payloads = Array.from({ length: blocks }, () => randomBytes(4096));
  // One burst: headers and payloads back to back, far more than 4 in flight or 256 KiB.
  c.write(
    Buffer.concat(
      payloads.map((p, i) => {
        const header = Buffer.alloc(28);
        header.writeUInt32BE(0x25609513, 0);
        header.writeUInt16BE(CMD.WRITE, 6);
        header.writeBigUInt64BE(BigInt(1000 + i), 8);
        header.writeBigUInt64BE(BigInt(i * 4096), 16);
        header.writeUInt32BE(4096, 24);
        return Buffer.concat([header, p]);
      }),
    ),
  );
  const seen = new Set<bigint>();
  for (let i = 0; i < blocks; i += 1) {
    const reply = await c.readReply();
    assert.equal(reply.error, 0);
    seen.add(reply.cookie);
  }
  assert.equal(seen.size, blocks);
  for (let i = 0; i < blocks; i += 1) c.request(CMD.READ, BigInt(i), i * 4096, 4096);
  const back = new Map<bigint, Buffer>();
  for (let i = 0; i < blocks; i += 1) {
    const reply = await c.readReply();
    assert.equal(reply.error, 0);
    back.set(reply.cookie, Buffer.from(await c.read(4096)));
  }
  for (let i = 0; i < blocks; i += 1) assert.deepEqual(back.get(BigInt(i)), payloads[i]);
  c.close();
});

test('invalid requests get EINVAL and the connection goes on', async () => {
  const c = await open();
  const cases: [string, () => void][] = [
    ['read past the end', () => c.request(CMD.READ, 1n, DISK_BYTES - 512, 1024)],
    ['read at an offset past 2^63', () => c.request(CMD.READ, 2n, 1n << 63n, 512)],
    ['read over the maximum', () => c.request(CMD.READ, 3n, 0, MAX + 1)],
    ['trim past the end', () => c.request(CMD.TRIM, 4n, DISK_BYTES, 512)],
    ['write-zeroes over the maximum', () => c.request(CMD.WRITE_ZEROES, 5n, 0, MAX + 512)],
    ['unknown command', () => c.request(99, 6n, 0, 0)],
    ['cache (not advertised)', () => c.request(CMD.CACHE, 7n, 0, 512)],
    [
      'fast zero (not advertised)',
      () => c.request(CMD.WRITE_ZEROES, 8n, 0, 512, { flags: FAST_ZERO }),
    ],
    ['unknown read flag', () => c.request(CMD.READ, 9n, 0, 512, { flags: 0x8000 })],
    [
      'write past the end (payload skipped)',
      () => c.request(CMD.WRITE, 10n, DISK_BYTES - 512, 1024, { payload: Buffer.alloc(1024, 7) }),
    ],
  ];
  for (const [what, send] of cases) {
    send();
    const reply = await c.readReply();
    assert.equal(reply.error, EINVAL, what);
  }
  // Still in sync: a valid request works.
  c.request(CMD.FLUSH, 11n, 0, 0);
  assert.deepEqual(await c.readReply(), { error: 0, cookie: 11n });
  // Zero-length requests are no-ops.
  c.request(CMD.WRITE, 12n, 0, 0);
  assert.deepEqual(await c.readReply(), { error: 0, cookie: 12n });
  c.close();
});

test('a WRITE over the maximum or a wrong request magic disconnects; others are served', async () => {
  const other = await open('raw-2');
  const big = await open();
  big.request(CMD.WRITE, 1n, 0, MAX + 512);
  await big.closed;
  const magic = await open();
  magic.request(CMD.READ, 1n, 0, 512, { magic: 0x12345678 });
  await magic.closed;
  assert.deepEqual(await readData(other, 9n, 0, 512), Buffer.alloc(512));
  other.close();
});

test('DISC: requests in flight are answered, then the server closes', async () => {
  const c = await open();
  const data = randomBytes(128 * 1024);
  c.request(CMD.WRITE, 1n, 0, data.length, { payload: data });
  c.request(CMD.DISC, 2n, 0, 0);
  assert.deepEqual(await c.readReply(), { error: 0, cookie: 1n });
  await c.closed;
  await released('raw-1');
  const file = await readFile(rig.path('raw-1'));
  assert.deepEqual(file.subarray(0, data.length), data);
});

test('a client that vanishes mid-payload: the disk is released, the server serves others', async () => {
  const c = await open('raw-2');
  // Header and half of a 1 MiB payload, then gone.
  c.request(CMD.WRITE, 1n, 0, 1024 * 1024, { payload: Buffer.alloc(512 * 1024, 1) });
  c.request(CMD.READ, 2n, 0, 4096);
  await sleep(20);
  c.close();
  await released('raw-2');
  const d = await open('raw-2');
  assert.deepEqual(await readData(d, 1n, 0, 4096), Buffer.alloc(4096));
  d.close();
  await released('raw-2');
});

test('two connections share one attachment; the tap counts holders', async () => {
  const a = await open();
  const b = await open();
  const data = Buffer.alloc(4096, 0x5a);
  a.request(CMD.WRITE, 1n, 0, 4096, { payload: data, flags: FUA });
  assert.equal((await a.readReply()).error, 0);
  // Multi-conn: what A wrote and flushed, B reads.
  assert.deepEqual(await readData(b, 2n, 0, 4096), data);
  a.close();
  await sleep(50);
  assert.equal(rig.tap.diskSize('raw-1'), DISK_BYTES); // still held by B
  b.close();
  await released('raw-1');
});

test('tap errors map to errno values', () => {
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  assert.equal(errnoOf(errno('ENOSPC')), 28);
  assert.equal(errnoOf(errno('EDQUOT')), 28);
  assert.equal(errnoOf(errno('EIO')), 5);
  assert.equal(errnoOf(errno('EROFS')), 1);
  assert.equal(errnoOf(new TidelineError('INVALID_PARAMS', 'Extent outside disk')), 22);
  assert.equal(
    errnoOf(new TidelineError('INTERNAL_ERROR', 'Outbox write failed: ENOSPC (no space left)')),
    28,
  );
  assert.equal(errnoOf(new TidelineError('UNAVAILABLE', 'Disk left VPG')), 5);
  assert.equal(errnoOf('weird'), 5);
});
