import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { Disk, Vm } from '../../app/protocol';
import { imageFormatOf } from '../../agent/nbd/disk-format';
import { exportUri } from '../../agent/nbd/exports';
import { DISK_BYTES, nbdRig, type NbdRig } from './nbd-rig';
import { WireClient, infoData } from './nbd-wire-client';

const OPT = { EXPORT_NAME: 1, ABORT: 2, LIST: 3, STARTTLS: 5, INFO: 6, GO: 7, STRUCTURED: 8 };
const OPT_SET_META_CONTEXT = 10;
const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: 0x80000001,
  ERR_POLICY: 0x80000002,
  ERR_INVALID: 0x80000003,
  ERR_UNKNOWN: 0x80000006,
  ERR_TOO_BIG: 0x80000009,
};
// HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM, SEND_WRITE_ZEROES, CAN_MULTI_CONN
const TRANSMISSION_FLAGS = 0x1 | 0x4 | 0x8 | 0x20 | 0x40 | 0x100;

let rig: NbdRig;
before(async () => {
  rig = await nbdRig();
});
after(async () => {
  await rig.close();
});

async function client(): Promise<WireClient> {
  return WireClient.connect(rig.socketPath);
}

test('the greeting offers fixed newstyle and no zeroes; the socket is mode 0600', async () => {
  const c = await client();
  assert.equal(await c.greet(), 0x3);
  c.close();
  const { statSync } = await import('node:fs');
  assert.equal(statSync(rig.socketPath).mode & 0o777, 0o600);
});

test('unknown client flags close the connection without a reply', async () => {
  const c = await client();
  await c.greet(0x3 | 0x80);
  await c.closed;
  await assert.rejects(c.read(1));
});

test('wrong option magic closes the connection', async () => {
  const c = await client();
  await c.greet();
  c.write(Buffer.from('IHAVEOPX\0\0\0\x03\0\0\0\0', 'latin1'));
  await c.closed;
});

test('NBD_OPT_LIST names every disk with its VM and disk name', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(OPT.LIST);
  const servers: string[] = [];
  for (;;) {
    const reply = await c.readOptionReply();
    assert.equal(reply.option, OPT.LIST);
    if (reply.type === REP.ACK) break;
    assert.equal(reply.type, REP.SERVER);
    const nameLength = reply.data.readUInt32BE(0);
    servers.push(
      `${reply.data.toString('utf8', 4, 4 + nameLength)}=${reply.data.toString('utf8', 4 + nameLength)}`,
    );
  }
  assert.deepEqual(servers, [
    'raw-1=app-01 / app-01-disk0',
    'raw-2=app-01 / app-01-disk1',
    'qcow-1=legacy / legacy-disk0',
  ]);
  // With data, LIST is invalid and haggling goes on.
  c.sendOption(OPT.LIST, Buffer.from('x'));
  assert.equal((await c.readOptionReply()).type, REP.ERR_INVALID);
  c.sendOption(OPT.ABORT);
  assert.deepEqual(await c.readOptionReply(), {
    option: OPT.ABORT,
    type: REP.ACK,
    data: Buffer.alloc(0),
  });
  await c.closed;
});

test('structured replies, meta contexts and TLS are unsupported; negotiation continues', async () => {
  const c = await client();
  await c.greet();
  for (const option of [OPT.STRUCTURED, OPT_SET_META_CONTEXT, OPT.STARTTLS, 9, 11, 4242]) {
    c.sendOption(option, option === OPT_SET_META_CONTEXT ? Buffer.alloc(8) : Buffer.alloc(0));
    const reply = await c.readOptionReply();
    assert.equal(reply.option, option);
    assert.equal(reply.type, REP.ERR_UNSUP);
    assert.match(reply.data.toString(), /not supported/);
  }
  const replies = await c.info(OPT.GO, 'raw-1');
  assert.equal(replies.at(-1)?.type, REP.ACK);
  c.close();
});

test('NBD_OPT_INFO and GO: export size and flags, name, description, block sizes', async () => {
  const c = await client();
  await c.greet();
  for (const option of [OPT.INFO, OPT.GO]) {
    const replies = await c.info(option, 'raw-2', [1, 2, 3]);
    assert.deepEqual(
      replies.map((r) => [r.option, r.type]),
      [
        [option, REP.INFO],
        [option, REP.INFO],
        [option, REP.INFO],
        [option, REP.INFO],
        [option, REP.ACK],
      ],
    );
    const byInfo = new Map(replies.slice(0, 4).map((r) => [r.data.readUInt16BE(0), r.data]));
    const exp = byInfo.get(0);
    assert.ok(exp);
    assert.equal(Number(exp.readBigUInt64BE(2)), DISK_BYTES);
    assert.equal(exp.readUInt16BE(10), TRANSMISSION_FLAGS);
    assert.equal(byInfo.get(1)?.toString('utf8', 2), 'raw-2');
    assert.equal(byInfo.get(2)?.toString('utf8', 2), 'app-01 / app-01-disk1');
    const block = byInfo.get(3);
    assert.ok(block);
    assert.deepEqual(
      [block.readUInt32BE(2), block.readUInt32BE(6), block.readUInt32BE(10)],
      [512, 4096, 32 * 1024 * 1024],
    );
  }
  // After GO: transmission. A flush is answered.
  c.request(3, 7n, 0, 0);
  assert.deepEqual(await c.readReply(), { error: 0, cookie: 7n });
  c.close();
});

test('an unknown export and a non-raw file are refused with a message; haggling goes on', async () => {
  const c = await client();
  await c.greet();
  const unknown = await c.info(OPT.GO, 'nope');
  assert.equal(unknown.length, 1);
  assert.equal(unknown[0]?.type, REP.ERR_UNKNOWN);
  assert.match(unknown[0]?.data.toString() ?? '', /No disk "nope"/);
  const empty = await c.info(OPT.INFO, '');
  assert.equal(empty[0]?.type, REP.ERR_UNKNOWN);
  const qcow = await c.info(OPT.GO, 'qcow-1');
  assert.equal(qcow[0]?.type, REP.ERR_POLICY);
  assert.match(qcow[0]?.data.toString() ?? '', /qcow2 image.*raw disk files only/);
  // Malformed GO data: the name length runs past the data.
  const bad = infoData('raw-1', []);
  bad.writeUInt32BE(99, 0);
  c.sendOption(OPT.GO, bad);
  assert.equal((await c.readOptionReply()).type, REP.ERR_INVALID);
  const ok = await c.info(OPT.GO, 'raw-1');
  assert.equal(ok.at(-1)?.type, REP.ACK);
  c.close();
});

test('oversized option data: NBD_REP_ERR_TOO_BIG at once, data skipped, haggling goes on', async () => {
  const c = await client();
  await c.greet();
  c.sendOption(OPT.INFO, Buffer.alloc(0), 1024 * 1024);
  const reply = await c.readOptionReply();
  assert.equal(reply.type, REP.ERR_TOO_BIG);
  assert.match(reply.data.toString(), /over this server's limit/);
  c.write(Buffer.alloc(1024 * 1024, 0x55));
  const ok = await c.info(OPT.INFO, 'raw-1');
  assert.equal(ok.at(-1)?.type, REP.ACK);
  // Beyond what is worth skipping, the connection is closed after the reply.
  c.sendOption(OPT.INFO, Buffer.alloc(0), 0xffffffff);
  assert.equal((await c.readOptionReply()).type, REP.ERR_TOO_BIG);
  await c.closed;
});

test('NBD_OPT_EXPORT_NAME: size and flags, 124 zeros unless NO_ZEROES; unknown name closes', async () => {
  for (const [clientFlags, tail] of [
    [0x3, 0],
    [0x1, 124],
  ] as const) {
    const c = await client();
    await c.greet(clientFlags);
    c.sendOption(OPT.EXPORT_NAME, Buffer.from('raw-1'));
    const reply = await c.read(10 + tail);
    assert.equal(Number(reply.readBigUInt64BE(0)), DISK_BYTES);
    assert.equal(reply.readUInt16BE(8), TRANSMISSION_FLAGS);
    assert.ok(reply.subarray(10).every((b) => b === 0));
    c.request(3, 1n, 0, 0);
    assert.deepEqual(await c.readReply(), { error: 0, cookie: 1n });
    c.close();
  }
  const c = await client();
  await c.greet();
  c.sendOption(OPT.EXPORT_NAME, Buffer.from('nope'));
  await c.closed;
});

test('a client that leaves during the handshake costs nothing; others are served', async () => {
  const c = await client();
  await c.greet();
  c.write(Buffer.from('IHAVEOPT\0\0\0\x07\0\0\0\x20raw', 'latin1'));
  c.close();
  const d = await client();
  assert.equal(await d.open('raw-1'), DISK_BYTES);
  d.close();
});

test('image formats are recognised by their headers; anything else is raw', () => {
  const header = (bytes: number[] | string, at = 0): Buffer => {
    const b = Buffer.alloc(512);
    (typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes)).copy(b, at);
    return b;
  };
  assert.equal(imageFormatOf(header([0x51, 0x46, 0x49, 0xfb])), 'qcow2');
  assert.equal(imageFormatOf(header('KDMV')), 'vmdk');
  assert.equal(imageFormatOf(header('# Disk DescriptorFile')), 'vmdk');
  assert.equal(imageFormatOf(header('vhdxfile')), 'vhdx');
  assert.equal(imageFormatOf(header('QED\0')), 'qed');
  assert.equal(imageFormatOf(header([0x7f, 0x10, 0xda, 0xbe], 0x40)), 'vdi');
  assert.equal(imageFormatOf(header('conectix')), 'vpc');
  assert.equal(imageFormatOf(Buffer.alloc(512)), undefined);
  assert.equal(imageFormatOf(Buffer.from('QF')), undefined);
});

test('vm.list annotation: an export URI per raw disk, an exportError for the qcow2 one', async () => {
  const vms = await rig.exports.annotate(structuredClone(rig.vms), rig.socketPath);
  const disks = vms.flatMap((vm) => vm.disks);
  assert.equal(
    disks.find((d) => d.diskId === 'raw-1')?.exportUri,
    `nbd+unix:///raw-1?socket=${rig.socketPath}`,
  );
  const qcow = disks.find((d) => d.diskId === 'qcow-1');
  assert.equal(qcow?.exportUri, undefined);
  assert.match(qcow?.exportError ?? '', /qcow2 image/);
  assert.equal(exportUri('a b', '/x/y?.sock'), 'nbd+unix:///a%20b?socket=/x/y%3F.sock');
});

test('the format verdict: a declared format decides; an undeclared raw disk is probed once, so a guest may write an image header into it', async () => {
  const raw1 = rig.vms.flatMap((vm) => vm.disks).find((d) => d.diskId === 'raw-1');
  assert.ok(raw1);
  const annotateOne = async (disk: Disk): Promise<Disk | undefined> => {
    const [vm] = await rig.exports.annotate(
      [{ ...(rig.vms[0] as Vm), disks: [disk] }],
      rig.socketPath,
    );
    return vm?.disks[0];
  };
  // Declared qcow2: refused without reading the (raw-looking) file.
  const declared = await annotateOne({ ...raw1, format: 'qcow2' });
  assert.match(declared?.exportError ?? '', /qcow2 image/);
  // Undeclared: probed once (raw), then the guest writes a qcow2 header at offset 0.
  assert.ok((await annotateOne(raw1))?.exportUri);
  const header = Buffer.alloc(512);
  Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]).copy(header);
  await writeFile(rig.path('raw-1'), header, { flag: 'r+' });
  try {
    const after = await annotateOne(raw1);
    assert.equal(after?.exportError, undefined, 'still served: the verdict was kept');
    assert.ok(after?.exportUri);
    // A declared raw disk is served whatever its first sector holds.
    assert.ok((await annotateOne({ ...raw1, diskId: 'raw-1b', format: 'raw' }))?.exportUri);
  } finally {
    await writeFile(rig.path('raw-1'), Buffer.alloc(512), { flag: 'r+' });
  }
});
