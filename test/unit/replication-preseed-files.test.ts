import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TidelineError } from '../../app/errors';
import { UsageError } from '../../agent/commands/usage';
import { parseOutboxLimit } from '../../agent/config/replication-flags';
import {
  acceptedPreseedPath,
  checkPreseeded,
  installPreseeded,
} from '../../agent/replication/preseed';

const MiB = 1024 * 1024;
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function temp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tideline-preseed-unit-'));
  dirs.push(dir);
  return dir;
}

async function sparseFile(path: string, size: number, data: [number, Buffer][]): Promise<void> {
  const h = await open(path, 'w');
  await h.truncate(size);
  for (const [at, buf] of data) await h.write(buf, 0, buf.length, at);
  await h.close();
}

function refused(code: string, message: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TidelineError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  };
}

test('pre-seed files are checked: missing, directory, wrong size, unknown disk, twice', async () => {
  const dir = await temp();
  const good = join(dir, 'd0.raw');
  await sparseFile(good, 4 * MiB, []);
  await mkdir(join(dir, 'folder'));
  const disks = [
    { diskId: 'd0', sizeBytes: 4 * MiB },
    { diskId: 'd1', sizeBytes: 8 * MiB },
  ];
  const sources = { dir, idleVmDisks: async () => [] };
  await checkPreseeded([{ diskId: 'd0', path: good }], disks, sources);
  await assert.rejects(
    checkPreseeded([{ diskId: 'd1', path: join(dir, 'missing.raw') }], disks, sources),
    refused('NOT_FOUND', /disk d1 does not exist: no file .*missing\.raw/),
  );
  await assert.rejects(
    checkPreseeded([{ diskId: 'd1', path: join(good, 'below-a-file') }], disks, sources),
    refused('NOT_FOUND', /does not exist/),
  );
  await assert.rejects(
    checkPreseeded([{ diskId: 'd0', path: join(dir, 'folder') }], disks, sources),
    refused('INVALID_PARAMS', /is a directory/),
  );
  await assert.rejects(
    checkPreseeded([{ diskId: 'd1', path: good }], disks, sources),
    refused('INVALID_PARAMS', /is 4194304 bytes .* but the disk is 8388608 bytes/),
  );
  await assert.rejects(
    checkPreseeded([{ diskId: 'd9', path: good }], disks, sources),
    refused('INVALID_PARAMS', /names a disk the VPG does not have; its disks are d0, d1/),
  );
  await assert.rejects(
    checkPreseeded(
      [
        { diskId: 'd0', path: good },
        { diskId: 'd0', path: good },
      ],
      disks,
      sources,
    ),
    refused('INVALID_PARAMS', /given twice/),
  );
  await assert.rejects(
    checkPreseeded([{ diskId: 'd0', path: 'd0.raw' }], disks, sources),
    refused('INVALID_PARAMS', /absolute path/),
  );
  await symlink('/dev/null', join(dir, 'device'));
  await assert.rejects(
    checkPreseeded([{ diskId: 'd0', path: join(dir, 'device') }], disks, sources),
    refused('UNAUTHORIZED', /is not a file the recovery site accepts/),
  );
});

test('pre-seed files come only from the pre-seed directory or an idle VM disk of this host', async () => {
  const dir = await temp();
  const elsewhere = await temp();
  const vmDisk = join(elsewhere, 'vm-disk.raw');
  await sparseFile(vmDisk, 4 * MiB, []);
  const disks = [{ diskId: 'd0', sizeBytes: 4 * MiB }];
  const seed = [{ diskId: 'd0', path: vmDisk }];
  const denied = refused('UNAUTHORIZED', /is not a file the recovery site accepts/);
  await assert.rejects(checkPreseeded(seed, disks, { dir, idleVmDisks: async () => [] }), denied);
  await assert.rejects(
    checkPreseeded(seed, disks, { dir: undefined, idleVmDisks: async () => [] }),
    refused('UNAUTHORIZED', /none is set: start its agent with --preseed-dir DIR/),
  );
  // Reverse protection: the disk of one of this host's own powered-off VMs, also by a symlink.
  const idle = { dir: undefined, idleVmDisks: async () => [vmDisk] };
  await checkPreseeded(seed, disks, idle);
  const link = join(dir, 'link.raw');
  await symlink(vmDisk, link);
  await checkPreseeded([{ diskId: 'd0', path: link }], disks, idle);
  // A symlink inside the directory to a file outside it is the file outside.
  await assert.rejects(
    checkPreseeded([{ diskId: 'd0', path: link }], disks, { dir, idleVmDisks: async () => [] }),
    denied,
  );
  assert.equal(await acceptedPreseedPath(link, 'it', idle), vmDisk);
});

test('a pre-seed file is copied into place, holes kept, the original left alone', async () => {
  const dir = await temp();
  const from = join(dir, 'backup.raw');
  const chunk = randomBytes(MiB);
  await sparseFile(from, 16 * MiB, [
    [0, chunk],
    [9 * MiB + 12345, chunk.subarray(0, 1000)],
  ]);
  const to = join(dir, 'replicas', 'vpg', 'd0.raw');
  const result = await installPreseeded(from, to);
  assert.equal(result.bytes, 16 * MiB);
  assert.ok((await readFile(to)).equals(await readFile(from)), 'the same bytes');
  assert.ok((await stat(from)).isFile(), 'the original is still there');
  if (result.method === 'copy') {
    // 2 MiB of data (one chunk, and the 1 MiB chunk holding the small write), the rest holes.
    assert.ok((await stat(to)).blocks * 512 <= 3 * MiB, 'the copy stays sparse');
  }
  assert.deepEqual(await readdir(join(dir, 'replicas', 'vpg')), ['d0.raw'], 'no temp file left');
});

test('--outbox-limit-mib: a whole number of MiB between 1 and 1048576', () => {
  assert.equal(parseOutboxLimit(undefined), undefined);
  assert.equal(parseOutboxLimit('1'), MiB);
  assert.equal(parseOutboxLimit('2048'), 2048 * MiB);
  for (const bad of ['0', '-4', '1.5', 'lots', '', '1048577', '1e3']) {
    assert.throws(
      () => parseOutboxLimit(bad),
      (err: unknown) =>
        err instanceof UsageError &&
        /--outbox-limit-mib must be a whole number of MiB between 1 and 1048576/.test(err.message),
      bad,
    );
  }
});
