import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TidelineError } from '../../app/errors';
import { UsageError } from '../../agent/commands/usage';
import { parseNbdFlags } from '../../agent/config/nbd-flags';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { VpgSource, outboxDir } from '../../agent/source/vpg-source';
import { DiskTap } from '../../agent/tap/disk-tap';
import { nbdRig } from './nbd-rig';
import { WireClient } from './nbd-wire-client';

test('the tap counts holders: concurrent attaches share one file, the last detach closes it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-nbd-attach-'));
  try {
    const path = join(dir, 'd0.raw');
    await createSparseFile(path, 1024 * 1024);
    const tap = new DiskTap();
    const [a, b] = await Promise.all([tap.attach('d0', path), tap.attach('d0', path)]);
    assert.equal(a, b);
    await assert.rejects(tap.attach('d0', join(dir, 'other.raw')), (err: unknown) => {
      return err instanceof TidelineError && err.code === 'CONFLICT';
    });
    await tap.write('d0', 0, Buffer.alloc(512, 1));
    await tap.detach('d0');
    assert.deepEqual(await tap.read('d0', 0, 512), Buffer.alloc(512, 1));
    const into = Buffer.alloc(512);
    assert.equal(await tap.read('d0', 0, 512, into), into);
    await tap.flush();
    await tap.detach('d0');
    assert.throws(
      () => tap.disk('d0'),
      (err: unknown) => {
        return err instanceof TidelineError && err.code === 'NOT_FOUND';
      },
    );
    // Opened again from scratch after the last holder left.
    await tap.attach('d0', path);
    assert.deepEqual(await tap.read('d0', 0, 512), Buffer.alloc(512, 1));
    await tap.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('run flags: --nbd-socket, --nbd-listen [HOST:]PORT, --no-nbd', () => {
  assert.deepEqual(parseNbdFlags({}), {});
  assert.deepEqual(parseNbdFlags({ 'nbd-listen': '10809' }), {
    tcp: { host: '127.0.0.1', port: 10809 },
  });
  // Not on other hosts' reach without TLS, unless the operator says so.
  assert.throws(() => parseNbdFlags({ 'nbd-listen': '0.0.0.0:0' }), /--nbd-tls-psk FILE/);
  assert.deepEqual(parseNbdFlags({ 'nbd-listen': '0.0.0.0:0', 'nbd-allow-insecure': true }), {
    tcp: { host: '0.0.0.0', port: 0 },
  });
  assert.deepEqual(parseNbdFlags({ 'nbd-listen': '10.0.0.5:10809', 'nbd-tls-psk': '/k.psk' }), {
    tcp: { host: '10.0.0.5', port: 10809 },
    tlsPskFile: '/k.psk',
  });
  assert.throws(
    () => parseNbdFlags({ 'nbd-listen': '127.0.0.1:1', 'nbd-allow-insecure': true }),
    /only applies to --nbd-listen on a non-loopback host/,
  );
  assert.deepEqual(parseNbdFlags({ 'nbd-listen': '[::1]:10809' }), {
    tcp: { host: '::1', port: 10809 },
  });
  assert.deepEqual(parseNbdFlags({ 'nbd-socket': '/run/t/nbd.sock' }), {
    socketPath: '/run/t/nbd.sock',
  });
  assert.deepEqual(parseNbdFlags({ 'nbd-socket': 'rel.sock' }), {
    socketPath: join(process.cwd(), 'rel.sock'),
  });
  assert.equal(parseNbdFlags({ 'no-nbd': true }), false);
  for (const bad of ['70000', 'host:', 'a b:1', '']) {
    assert.throws(() => parseNbdFlags({ 'nbd-listen': bad }), UsageError, bad);
  }
  assert.throws(() => parseNbdFlags({ 'no-nbd': true, 'nbd-listen': '1' }), UsageError);
});

test('NBD writes to a protected disk are sequenced as records; unprotect keeps the client attached', async () => {
  const rig = await nbdRig();
  try {
    // What SourceVpg.start does: attach (a second holder next to the NBD connection), protect.
    const client = await WireClient.connect(rig.socketPath);
    await client.open('raw-1');
    const file = await rig.tap.attach('raw-1', rig.path('raw-1'));
    const source = new VpgSource({
      vpgId: 'vpg-1',
      dir: outboxDir(rig.dir, 'vpg-1'),
      disks: [file],
      limitBytes: 64 * 1024 * 1024,
      checkpointIntervalMs: 0,
    });
    await source.open();
    await rig.tap.protect('raw-1', source);
    const before = source.status().lastSeq;
    client.request(1, 1n, 4096, 4096, { payload: Buffer.alloc(4096, 0x3c), flags: 1 });
    client.request(6, 2n, 65536, 8192);
    client.request(4, 3n, 131072, 4096);
    client.request(3, 4n, 0, 0);
    for (let i = 0; i < 4; i += 1) assert.equal((await client.readReply()).error, 0);
    assert.equal(source.status().lastSeq, before + 3);
    // removeVm / vpg.remove: unprotect, close, detach — the VM's connection carries on.
    rig.tap.unprotect('raw-1');
    await source.close();
    await rig.tap.detach('raw-1');
    client.request(1, 5n, 0, 512, { payload: Buffer.alloc(512, 9) });
    assert.deepEqual(await client.readReply(), { error: 0, cookie: 5n });
    // NBD orders nothing among requests in flight (the write and the read would race on the
    // thread pool): the read goes once the write is answered, as real clients do.
    client.request(0, 6n, 0, 512);
    assert.deepEqual(await client.readReply(), { error: 0, cookie: 6n });
    assert.deepEqual(Buffer.from(await client.read(512)), Buffer.alloc(512, 9));
    client.close();
  } finally {
    await rig.close();
  }
});
