import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupAgents } from '../helpers/agents';
import {
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  NBD_CMD,
  NBD_CMD_FLAG,
  NBD_E,
  NBD_FLAG,
  NBD_INFO,
  NBD_OPT,
  NBD_REP,
  NbdClosedError,
  NbdConnection,
  NbdOptionError,
  REQUEST_MAGIC,
  errnoName,
  replyTypeName,
  type NbdTarget,
} from '../helpers/nbd-client';
import {
  MiB,
  call,
  launchSite,
  stopSite,
  tail,
  vms,
  type Site,
} from '../helpers/replication-sites';

/**
 * Bad input on the agent's NBD server (issue 4, point 4), with a raw client: every case
 * asserts the exact reply the protocol prescribes, or the disconnect, and that a second
 * client, connected before the bad one, is served (a write and read back) while the bad
 * connection is in its bad state and after it; the daemon stays up throughout.
 */

const DISK_MIB = 64;
const MAX_REQUEST = 32 * MiB;

let site: Site;
let target: NbdTarget;
let diskId: string;
let diskSize: number;
let otherDiskId: string;

before(async () => {
  site = await launchSite('NBD edge', { diskMiB: DISK_MIB });
  target = { path: join(site.creds.dataDir, 'nbd.sock') };
  const all = (await vms(site)).flatMap((vm) => vm.disks);
  assert.ok(all.length >= 2, 'the sim inventory has two disks');
  diskId = all[0]?.diskId ?? '';
  otherDiskId = all[1]?.diskId ?? '';
  diskSize = all[0]?.sizeBytes ?? 0;
  assert.equal(diskSize, DISK_MIB * MiB);
});
after(cleanupAgents);

// Where each party writes, so that their data never overlap.
const BYSTANDER_AT = 48 * MiB;
const BAD_AT = 8 * MiB;

let bystanderTrips = 0;

/** A write of fresh random bytes and its read back, on a connection that must be served. */
async function roundTrip(conn: NbdConnection, when: string): Promise<void> {
  const offset = BYSTANDER_AT + (bystanderTrips++ % 1024) * 4096;
  const data = randomBytes(4096);
  await conn.write(offset, data);
  const back = await conn.read(offset, data.length);
  assert.ok(back.equals(data), `the second client read back what it wrote (${when})`);
}

function assertAlive(): void {
  assert.equal(site.agent.process.exitCode, null, `the agent is still running:\n${tail(site)}`);
  assert.equal(site.agent.process.signalCode, null, `the agent was not killed:\n${tail(site)}`);
}

/**
 * Runs one bad client's case next to a well-behaved one: `bad` gets `during()`, a round trip
 * of the second client, to call while its connection is in the bad state. Afterwards the
 * second client and a fresh one are both served, and the daemon still answers vm.list.
 */
async function withBystander(bad: (during: () => Promise<void>) => Promise<void>): Promise<void> {
  const { conn: bystander } = await NbdConnection.open(target, diskId);
  try {
    await roundTrip(bystander, 'before');
    let calls = 0;
    await bad(async () => {
      calls += 1;
      await roundTrip(bystander, 'during');
    });
    assert.ok(calls > 0, 'the case let the second client work while it misbehaved');
    await roundTrip(bystander, 'after');
    const { conn: fresh } = await NbdConnection.open(target, diskId);
    await roundTrip(fresh, 'on a fresh connection after');
    await fresh.disconnect();
    await bystander.disconnect();
    assertAlive();
    await call(site, 'vm.list');
  } finally {
    bystander.destroy();
  }
}

async function assertClosed(conn: NbdConnection, what: string, timeoutMs = 5_000): Promise<Buffer> {
  const { state, extra } = await conn.waitClosed(timeoutMs);
  conn.destroy();
  assert.equal(state, 'closed', `the server closed the connection: ${what}`);
  return extra;
}

async function greeted(clientFlags?: number): Promise<NbdConnection> {
  const conn = await NbdConnection.connect(target);
  await conn.handshake(clientFlags);
  return conn;
}

async function inTransmission(): Promise<NbdConnection> {
  const { conn } = await NbdConnection.open(target, diskId);
  return conn;
}

async function expectError(
  conn: NbdConnection,
  frame: Parameters<NbdConnection['request']>[0],
  errnos: readonly number[],
  what: string,
): Promise<void> {
  const reply = await conn.request(frame);
  assert.ok(
    errnos.includes(reply.error),
    `${what}: error ${errnoName(reply.error)}, expected ${errnos.map(errnoName).join(' or ')}`,
  );
  assert.equal(reply.data, undefined, `${what}: an error reply carries no data`);
}

describe('NBD handshake', { timeout: 60_000 }, () => {
  it('greets fixed newstyle with NO_ZEROES and lists the exports', async () => {
    const conn = await NbdConnection.connect(target);
    const flags = await conn.handshake();
    assert.equal(flags, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    const names = await conn.list();
    const expected = (await vms(site)).flatMap((vm) => vm.disks.map((d) => d.diskId));
    assert.deepEqual([...names].sort(), [...expected].sort());
    // INFO leaves the negotiation open: ABORT is then answered with an ACK and a close.
    const info = await conn.info(diskId, [NBD_INFO.BLOCK_SIZE]);
    assert.equal(info.size, BigInt(diskSize));
    assert.deepEqual(info.blockSize, { minimum: 512, preferred: 4096, maximum: MAX_REQUEST });
    for (const flag of [
      'HAS_FLAGS',
      'SEND_FLUSH',
      'SEND_FUA',
      'SEND_TRIM',
      'SEND_WRITE_ZEROES',
    ] as const) {
      assert.ok((info.flags & NBD_FLAG[flag]) !== 0, `transmission flag ${flag} is set`);
    }
    assert.equal(info.flags & NBD_FLAG.READ_ONLY, 0, 'the export is writable');
    conn.sendOption(NBD_OPT.ABORT);
    const ack = await settle(conn.readOptionReply());
    // The protocol lets the server close without the ACK; if it answers, it is an ACK.
    if (!(ack instanceof NbdClosedError)) {
      assert.ok(!(ack instanceof Error), String(ack));
      assert.equal(ack.type, NBD_REP.ACK);
      assert.equal(ack.option, NBD_OPT.ABORT);
    }
    await assertClosed(conn, 'after NBD_OPT_ABORT');
  });

  it('EXPORT_NAME: no zeroes after the flags with NO_ZEROES, 124 zeroes without', async () => {
    for (const clientFlags of [FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, FLAG_FIXED_NEWSTYLE]) {
      const conn = await greeted(clientFlags);
      const info = await conn.exportName(diskId);
      assert.equal(info.size, BigInt(diskSize));
      assert.ok((info.flags & NBD_FLAG.HAS_FLAGS) !== 0);
      await roundTrip(conn, `after EXPORT_NAME with client flags ${clientFlags}`);
      await conn.disconnect();
    }
  });

  it('GO without information requests still sends NBD_INFO_EXPORT; exports are independent', async () => {
    const conn = await greeted();
    const info = await conn.go(otherDiskId);
    assert.ok(info.infoTypes.includes(NBD_INFO.EXPORT));
    const data = randomBytes(8192);
    await conn.write(BYSTANDER_AT, data);
    const { conn: first } = await NbdConnection.open(target, diskId);
    const mine = await first.read(BYSTANDER_AT, 8192);
    assert.ok(!mine.equals(data), 'a write to one export does not show in another');
    assert.ok((await conn.read(BYSTANDER_AT, 8192)).equals(data));
    await first.disconnect();
    await conn.disconnect();
  });
});

describe('NBD malformed input', { timeout: 120_000 }, () => {
  it('wrong option magic (not IHAVEOPT): disconnect', () =>
    withBystander(async (during) => {
      const conn = await greeted();
      await during();
      conn.sendOption(NBD_OPT.GO, Buffer.alloc(6), { magic: IHAVEOPT ^ 0xffn });
      const extra = await assertClosed(conn, 'after a bad option magic');
      assert.equal(extra.length, 0, 'no option reply to a frame without the option magic');
    }));

  it('unknown client flags: disconnect before any option', () =>
    withBystander(async (during) => {
      for (const flags of [FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES | 0x80, 0xffff_ffff]) {
        const conn = await NbdConnection.connect(target);
        await conn.take(18);
        await during();
        const bytes = Buffer.alloc(4);
        bytes.writeUInt32BE(flags >>> 0);
        conn.send(bytes);
        // The option would be answered if the server had accepted the flags.
        conn.sendOption(NBD_OPT.LIST);
        const extra = await assertClosed(conn, `client flags 0x${flags.toString(16)}`);
        assert.equal(extra.length, 0, 'the option after unknown client flags is not answered');
      }
    }));

  it('oversized option data: NBD_REP_ERR_TOO_BIG (negotiation goes on once it is skipped) or disconnect', () =>
    withBystander(async (during) => {
      // 1 MiB, sent whole: a server may skip it and answer, or drop the connection.
      const skipped = await greeted();
      await during();
      skipped.sendOption(NBD_OPT.GO, randomBytes(MiB));
      const reply = await settle(skipped.readOptionReply(10_000));
      if (reply instanceof NbdClosedError) {
        await assertClosed(skipped, 'after an option of 1 MiB');
      } else {
        assert.ok(!(reply instanceof Error), String(reply));
        assert.equal(reply.option, NBD_OPT.GO);
        assert.equal(replyTypeName(reply.type), replyTypeName(NBD_REP.ERR_TOO_BIG));
        await during();
        // The data was skipped exactly: the next option is understood.
        assert.equal((await skipped.go(diskId)).size, BigInt(diskSize));
        await roundTrip(skipped, 'after the refused 1 MiB option');
        await skipped.disconnect();
      }
      // 4 GiB announced, 64 KiB sent: the answer (or the disconnect) must not wait for the rest.
      const huge = await greeted();
      huge.sendOption(NBD_OPT.GO, Buffer.alloc(0), { length: 0xffff_ffff });
      huge.send(Buffer.alloc(64 * 1024));
      const hugeReply = await settle(huge.readOptionReply(5_000));
      if (!(hugeReply instanceof NbdClosedError)) {
        assert.ok(!(hugeReply instanceof Error), String(hugeReply));
        assert.equal(hugeReply.option, NBD_OPT.GO);
        assert.equal(replyTypeName(hugeReply.type), replyTypeName(NBD_REP.ERR_TOO_BIG));
      }
      await during();
      huge.destroy();
    }));

  it('unknown and unsupported options: NBD_REP_ERR_UNSUP each, and negotiation continues', () =>
    withBystander(async (during) => {
      const conn = await greeted();
      const metaContext = Buffer.alloc(4 + diskId.length + 4 + 4 + 15);
      metaContext.writeUInt32BE(diskId.length, 0);
      metaContext.write(diskId, 4);
      metaContext.writeUInt32BE(1, 4 + diskId.length);
      metaContext.writeUInt32BE(15, 8 + diskId.length);
      metaContext.write('base:allocation', 12 + diskId.length);
      const cases: [number, Buffer][] = [
        [0x7777, randomBytes(100)], // with data, which must be skipped exactly
        [NBD_OPT.STRUCTURED_REPLY, Buffer.alloc(0)],
        [NBD_OPT.SET_META_CONTEXT, metaContext],
        [NBD_OPT.LIST_META_CONTEXT, metaContext],
        [NBD_OPT.EXTENDED_HEADERS, Buffer.alloc(0)],
        [NBD_OPT.STARTTLS, Buffer.alloc(0)],
        [NBD_OPT.PEEK_EXPORT, Buffer.alloc(0)],
        [0xffff_ffff, Buffer.alloc(0)],
      ];
      for (const [option, data] of cases) {
        conn.sendOption(option, data);
        const reply = await conn.readOptionReply();
        assert.equal(reply.option, option >>> 0, `the reply names option ${option}`);
        assert.equal(
          reply.type,
          NBD_REP.ERR_UNSUP,
          `option ${option}: ${replyTypeName(reply.type)}, expected NBD_REP_ERR_UNSUP`,
        );
        await during();
      }
      const info = await conn.go(diskId, [NBD_INFO.BLOCK_SIZE]);
      assert.equal(info.size, BigInt(diskSize));
      await roundTrip(conn, 'on the connection that sent the unknown options');
      await conn.disconnect();
    }));

  it('unknown export name: NBD_REP_ERR_UNKNOWN to INFO and GO (negotiation continues), disconnect for EXPORT_NAME', () =>
    withBystander(async (during) => {
      const conn = await greeted();
      for (const go of [false, true]) {
        const refused = await conn
          .info('no-such-disk', [NBD_INFO.BLOCK_SIZE], go)
          .catch((e: unknown) => e);
        assert.ok(refused instanceof NbdOptionError, `refused: ${String(refused)}`);
        assert.equal(refused.option, go ? NBD_OPT.GO : NBD_OPT.INFO);
        assert.equal(replyTypeName(refused.replyType), replyTypeName(NBD_REP.ERR_UNKNOWN));
        await during();
      }
      await conn.go(diskId);
      await roundTrip(conn, 'after the unknown export names');
      await conn.disconnect();

      const old = await greeted();
      old.sendOption(NBD_OPT.EXPORT_NAME, Buffer.from('no-such-disk'));
      const extra = await assertClosed(old, 'EXPORT_NAME of an unknown export');
      assert.equal(extra.length, 0, 'no export data for an unknown export');
    }));

  it('unknown command: EINVAL, and the connection goes on', () =>
    withBystander(async (during) => {
      const conn = await inTransmission();
      for (const type of [99, 0xffff, NBD_CMD.BLOCK_STATUS]) {
        await expectError(
          conn,
          { type, offset: 0, length: 4096 },
          [NBD_E.EINVAL],
          `command ${type}`,
        );
        await during();
      }
      await roundTrip(conn, 'after the unknown commands');
      await conn.disconnect();
    }));

  it('requests beyond the end of the disk: EINVAL (ENOSPC allowed for writes), and the connection goes on', () =>
    withBystander(async (during) => {
      const conn = await inTransmission();
      const end = diskSize;
      const reads: [bigint | number, number][] = [
        [end - 512, 1024], // straddles the end
        [end, 512], // starts at the end
        [2n ** 63n, 512], // far beyond
        [2n ** 64n - 512n, 1024], // offset + length overflows 64 bits
      ];
      for (const [offset, length] of reads) {
        await expectError(
          conn,
          { type: NBD_CMD.READ, offset, length },
          [NBD_E.EINVAL],
          `READ at ${offset}+${length}`,
        );
      }
      await during();
      const pattern = Buffer.alloc(1024, 0xee);
      await expectError(
        conn,
        { type: NBD_CMD.WRITE, offset: end - 512, data: pattern },
        [NBD_E.EINVAL, NBD_E.ENOSPC],
        'WRITE straddling the end',
      );
      await expectError(
        conn,
        { type: NBD_CMD.WRITE, offset: 2n ** 64n - 512n, data: pattern },
        [NBD_E.EINVAL, NBD_E.ENOSPC],
        'WRITE whose end overflows',
      );
      for (const type of [NBD_CMD.TRIM, NBD_CMD.WRITE_ZEROES]) {
        await expectError(
          conn,
          { type, offset: end - 4096, length: 8192 },
          [NBD_E.EINVAL, NBD_E.ENOSPC],
          `command ${type} straddling the end`,
        );
      }
      // Nothing of the refused write landed inside the disk.
      const last = await conn.read(end - 512, 512);
      assert.ok(
        !last.equals(pattern.subarray(0, 512)),
        'the refused write left the last sector alone',
      );
      await during();
      await roundTrip(conn, 'after the requests beyond the end');
      await conn.disconnect();
    }));

  it('READ larger than 32 MiB: EINVAL; exactly 32 MiB is served', () =>
    withBystander(async (during) => {
      const conn = await inTransmission();
      await expectError(
        conn,
        { type: NBD_CMD.READ, offset: 0, length: MAX_REQUEST + 512 },
        [NBD_E.EINVAL],
        'READ of 32 MiB + 512',
      );
      await expectError(
        conn,
        { type: NBD_CMD.READ, offset: 0, length: 0xffff_fe00 },
        [NBD_E.EINVAL],
        'READ of 4 GiB - 512',
      );
      await during();
      const whole = await conn.read(0, MAX_REQUEST);
      assert.equal(whole.length, MAX_REQUEST);
      await roundTrip(conn, 'after the oversized reads');
      await conn.disconnect();
    }));

  it('WRITE larger than 32 MiB: EINVAL with its payload skipped, or disconnect; nothing written', () =>
    withBystander(async (during) => {
      const conn = await inTransmission();
      const before = await conn.read(BAD_AT, 4096);
      const payload = Buffer.alloc(MAX_REQUEST + 4096, 0xee);
      const reply = settle(conn.request({ type: NBD_CMD.WRITE, offset: BAD_AT, data: payload }));
      await during();
      const outcome = await reply;
      if (outcome instanceof NbdClosedError) {
        await assertClosed(conn, 'after an oversized WRITE');
      } else {
        assert.ok(!(outcome instanceof Error), String(outcome));
        assert.equal(errnoName(outcome.error), errnoName(NBD_E.EINVAL));
        await roundTrip(conn, 'after the oversized WRITE was refused');
        await conn.disconnect();
      }
      const { conn: check } = await NbdConnection.open(target, diskId);
      assert.ok(
        (await check.read(BAD_AT, 4096)).equals(before),
        'the oversized WRITE wrote nothing',
      );
      await check.disconnect();
    }));

  it('garbage request magic: disconnect', () =>
    withBystander(async (during) => {
      const conn = await inTransmission();
      await during();
      conn.sendRequest({ type: NBD_CMD.READ, offset: 0, length: 512, magic: 0xdeadbeef });
      const extra = await assertClosed(conn, 'after a bad request magic');
      assert.equal(extra.length, 0, 'no reply to a request without the request magic');
    }));

  it('a client that vanishes mid-request (half a header; a WRITE with half its payload)', () =>
    withBystander(async (during) => {
      // Half a request header.
      const half = await inTransmission();
      const header = Buffer.alloc(28);
      header.writeUInt32BE(REQUEST_MAGIC, 0);
      header.writeUInt16BE(NBD_CMD.READ, 6);
      header.writeUInt32BE(4096, 24);
      await half.sendAndDrain(header.subarray(0, 14));
      await during();
      half.destroy();

      // A WRITE header and half of its 1 MiB payload, then gone: nothing of it is written.
      const writer = await inTransmission();
      const before = await writer.read(BAD_AT, MiB);
      const frame = Buffer.alloc(28);
      frame.writeUInt32BE(REQUEST_MAGIC, 0);
      frame.writeUInt16BE(NBD_CMD_FLAG.FUA, 4);
      frame.writeUInt16BE(NBD_CMD.WRITE, 6);
      frame.writeBigUInt64BE(7n, 8);
      frame.writeBigUInt64BE(BigInt(BAD_AT), 16);
      frame.writeUInt32BE(MiB, 24);
      await writer.sendAndDrain(Buffer.concat([frame, Buffer.alloc(MiB / 2, 0xee)]));
      await during();
      writer.destroy();
      await during();
      const { conn: check } = await NbdConnection.open(target, diskId);
      assert.ok(
        (await check.read(BAD_AT, MiB)).equals(before),
        'the unfinished WRITE wrote nothing',
      );
      await check.disconnect();

      // Gone during the handshake (half the client flags) and halfway through an option.
      const early = await NbdConnection.connect(target);
      await early.take(18);
      await early.sendAndDrain(Buffer.from([0, 0]));
      early.destroy();
      const midOption = await greeted();
      midOption.sendOption(NBD_OPT.GO, Buffer.alloc(10), { length: 100 });
      await during();
      midOption.destroy();

      // Gone with 64 reads of 1 MiB in flight: the replies go nowhere.
      const reader = await inTransmission();
      for (let i = 0; i < 64; i += 1)
        reader.sendRequest({ type: NBD_CMD.READ, offset: i * MiB, length: MiB });
      await sleepMs(20);
      reader.destroy();
      await during();
    }));
  it('a client that never reads its replies: the others are served', () =>
    withBystander(async (during) => {
      const stalled = await inTransmission();
      stalled.socket.pause(); // its receive buffer fills; the server must not wait on it alone
      for (let i = 0; i < 256; i += 1) {
        stalled.sendRequest({ type: NBD_CMD.READ, offset: (i % 60) * MiB, length: MiB });
      }
      await sleepMs(200);
      await during();
      await during();
      stalled.destroy();
    }));
});

describe('NBD requests in flight', { timeout: 60_000 }, () => {
  it('answers 256 requests in flight, each once by its cookie, with the right data', async () => {
    const conn = await inTransmission();
    const base = 16 * MiB;
    const blocks = Array.from({ length: 128 }, () =>
      randomBytes(4096 * (1 + Math.floor(Math.random() * 4))),
    );
    const offsets = blocks.map((_, i) => base + i * 16384);
    // Writes, with a FLUSH and a FUA write among them, all sent before any reply is read.
    const writes = blocks.map((data, i) =>
      conn.write(offsets[i] as number, data, i % 17 === 0 ? NBD_CMD_FLAG.FUA : 0),
    );
    const flush = conn.flush();
    assert.ok(conn.inFlight >= 129, `requests in flight: ${conn.inFlight}`);
    await Promise.all([...writes, flush]);
    // Reads of different sizes, also all in flight at once: small ones may overtake big ones.
    const reads = blocks.map((data, i) => conn.read(offsets[i] as number, data.length));
    const big = conn.read(0, 8 * MiB);
    assert.ok(conn.inFlight >= 129);
    const got = await Promise.all(reads);
    got.forEach((data, i) => assert.ok(data.equals(blocks[i] as Buffer), `block ${i} read back`));
    assert.equal((await big).length, 8 * MiB);
    assert.equal(conn.replyError, undefined, 'every reply matched a request in flight');
    await conn.disconnect();
  });

  it('TRIM and WRITE_ZEROES read back as zeros; FLUSH succeeds', async () => {
    const conn = await inTransmission();
    const at = 24 * MiB;
    await conn.write(at, randomBytes(64 * 1024));
    await conn.trim(at, 16 * 1024);
    await conn.writeZeroes(at + 32 * 1024, 16 * 1024, NBD_CMD_FLAG.FUA);
    await conn.flush();
    const back = await conn.read(at, 64 * 1024);
    assert.ok(
      back.subarray(0, 16 * 1024).equals(Buffer.alloc(16 * 1024)),
      'trimmed extent reads as zeros',
    );
    assert.ok(back.subarray(32 * 1024, 48 * 1024).equals(Buffer.alloc(16 * 1024)), 'zeroed extent');
    assert.ok(
      !back.subarray(16 * 1024, 32 * 1024).equals(Buffer.alloc(16 * 1024)),
      'the rest stays',
    );
    await conn.disconnect();
  });
});

describe('NBD clients when the daemon stops', { timeout: 60_000 }, () => {
  it('SIGTERM with clients in every state: the agent exits 0 and closes them', async () => {
    const idle = await greeted(); // never sends an option
    const half = await inTransmission();
    const header = Buffer.alloc(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(NBD_CMD.WRITE, 6);
    header.writeUInt32BE(MiB, 24);
    await half.sendAndDrain(Buffer.concat([header, Buffer.alloc(1000)])); // a WRITE cut short
    const stalled = await inTransmission();
    stalled.socket.pause();
    for (let i = 0; i < 64; i += 1) {
      stalled.sendRequest({ type: NBD_CMD.READ, offset: i * MiB, length: MiB });
    }
    const working = await inTransmission();
    await roundTrip(working, 'before the stop');
    await sleepMs(100);
    const started = Date.now();
    await stopSite(site); // asserts exit code 0 (a SIGKILL after 10 s would give null)
    const ms = Date.now() - started;
    assert.ok(ms < 10_000, `stopped in ${ms} ms`);
    for (const conn of [idle, half, working]) {
      assert.equal((await conn.waitClosed(2_000)).state, 'closed', 'the agent closed it');
    }
    stalled.destroy();
  });
});

/** The value, or the error it was rejected with. */
function settle<T>(promise: Promise<T>): Promise<T | Error> {
  return promise.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
