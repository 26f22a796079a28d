import { constants } from 'node:fs';
import { copyFile, mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { TidelineError } from '../../app/errors';
import { isZeroBlock } from '../source/block-hasher';
import { fsyncDirectory } from '../store/atomic-file';
import { errnoMessage, isErrno } from '../store/json-file';
import { formatBytes } from '../util/bytes';

/** A disk copied to the recovery site beforehand (VpgSettings.preseededReplicas). */
export interface PreseededReplica {
  readonly diskId: string;
  /** Absolute path of a raw file of the disk's size on this (the recovery site's) host. */
  readonly path: string;
}

export interface PreseedDisk {
  readonly diskId: string;
  readonly sizeBytes: number;
}

export interface PreseedResult {
  readonly diskId: string;
  readonly bytes: number;
  /** 'reflink': a copy-on-write clone (instant); 'copy': the file's data copied, holes kept. */
  readonly method: 'reflink' | 'copy';
}

/**
 * Which files the protected site may name as pre-seeded replicas on this (the recovery
 * site's) host. The names come from the peer, so a path is taken only when its real path
 * (symlinks resolved) is a file under the directory the admin set (`run --preseed-dir`), or
 * the disk of one of this host's own VMs that is powered off and protected by no VPG here:
 * what reverse protection seeds from (the original disks after a move). Nothing else is read,
 * copied or hashed, and a refusal says nothing about the file (not even whether it exists).
 */
export interface PreseedSources {
  /** The admin's pre-seed directory (undefined: none set). */
  readonly dir: string | undefined;
  /** Disk files of this host's VMs that are off and protected by no VPG here. */
  readonly idleVmDisks: () => Promise<readonly string[]>;
}

/** The real path of a pre-seeded file this site accepts; refuses any other path alike. */
export async function acceptedPreseedPath(
  path: string,
  what: string,
  sources: PreseedSources,
): Promise<string> {
  const dir =
    sources.dir === undefined ? undefined : await realpath(sources.dir).catch(() => undefined);
  const lexicallyInDir = dir !== undefined && isUnder(resolve(path), dir);
  let real: string | undefined;
  try {
    real = await realpath(path);
  } catch (err) {
    // Inside the admin's own directory a missing file may be named as such.
    if (lexicallyInDir && (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR'))) {
      throw new TidelineError(
        'NOT_FOUND',
        `${what} does not exist: no file ${path} on the recovery site's agent host (${hostname()})`,
      );
    }
  }
  if (real !== undefined) {
    if (dir !== undefined && isUnder(real, dir)) return real;
    const vmDisks = await Promise.all(
      (await sources.idleVmDisks()).map((disk) => realpath(disk).catch(() => undefined)),
    );
    if (vmDisks.includes(real)) return real;
  }
  throw new TidelineError(
    'UNAUTHORIZED',
    `${what} (${path}) is not a file the recovery site accepts: copy the image into its pre-seed directory (${
      sources.dir ?? 'none is set: start its agent with --preseed-dir DIR'
    }) and name it there`,
  );
}

function isUnder(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

/**
 * Checks every pre-seeded file before anything is copied: one per disk of the VPG, an
 * absolute path to a file this site accepts (PreseedSources), a regular file of exactly the
 * disk's size. The errors say which disk and file, and what to fix.
 */
export async function checkPreseeded(
  preseeded: readonly PreseededReplica[],
  disks: readonly PreseedDisk[],
  sources: PreseedSources,
): Promise<void> {
  const sizes = new Map(disks.map((d) => [d.diskId, d.sizeBytes]));
  const seen = new Set<string>();
  for (const { diskId, path } of preseeded) {
    const size = sizes.get(diskId);
    const what = `The pre-seeded replica of disk ${diskId}`;
    if (size === undefined) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${what} (${path}) names a disk the VPG does not have; its disks are ${[...sizes.keys()].join(', ')}`,
      );
    }
    if (seen.has(diskId)) {
      throw new TidelineError('INVALID_PARAMS', `${what} is given twice; give one file per disk`);
    }
    seen.add(diskId);
    if (!isAbsolute(path)) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${what} must be an absolute path on the recovery site's agent host, not "${path}"`,
      );
    }
    const real = await acceptedPreseedPath(path, what, sources);
    let info;
    try {
      info = await stat(real);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        throw new TidelineError(
          'NOT_FOUND',
          `${what} does not exist: no file ${path} on the recovery site's agent host (${hostname()})`,
        );
      }
      throw new TidelineError('INVALID_PARAMS', `${what} cannot be read: ${errnoMessage(err)}`);
    }
    if (info.isDirectory()) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${what} is a directory (${path}); give the raw image file of the disk`,
      );
    }
    if (!info.isFile()) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${what} (${path}) is not a regular file; give a raw image file of the disk`,
      );
    }
    if (info.size !== size) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${what} (${path}) is ${formatBytes(info.size)} but the disk is ${formatBytes(size)}: give a raw image (not qcow2 or another format) of the whole disk`,
      );
    }
  }
}

const CHUNK = 1024 * 1024;

/**
 * Starts a replica from a pre-seeded file: a copy at `replicaPath`, made next to it and renamed
 * into place once durable (a crash leaves either no replica or the whole copy). The admin's file
 * is left as it is (a copy, not a move: a refused VPG consumes nothing). A copy-on-write clone
 * when the file system can (instant); otherwise the data is copied and zero chunks are left as
 * holes, so the replica stays sparse.
 */
export async function installPreseeded(
  source: string,
  replicaPath: string,
): Promise<Omit<PreseedResult, 'diskId'>> {
  const temp = `${replicaPath}.preseed-tmp`;
  await mkdir(dirname(replicaPath), { recursive: true, mode: 0o750 });
  await rm(temp, { force: true });
  let method: PreseedResult['method'] = 'reflink';
  try {
    try {
      await copyFile(source, temp, constants.COPYFILE_FICLONE_FORCE);
    } catch {
      method = 'copy';
      await sparseCopy(source, temp);
    }
    const handle = await open(temp, 'r+');
    let bytes: number;
    try {
      await handle.sync();
      bytes = (await handle.stat()).size;
    } finally {
      await handle.close();
    }
    await rename(temp, replicaPath);
    await fsyncDirectory(dirname(replicaPath));
    return { bytes, method };
  } catch (err) {
    await rm(temp, { force: true });
    throw new TidelineError(
      'INTERNAL_ERROR',
      `Cannot copy the pre-seeded replica ${source} to ${replicaPath}: ${errnoMessage(err)}`,
    );
  }
}

async function sparseCopy(from: string, to: string): Promise<void> {
  const input = await open(from, 'r');
  try {
    const output = await open(to, 'wx', 0o600);
    try {
      const { size } = await input.stat();
      await output.truncate(size);
      const buf = Buffer.allocUnsafe(CHUNK);
      for (let at = 0; at < size; at += CHUNK) {
        const n = Math.min(CHUNK, size - at);
        let got = 0;
        while (got < n) {
          const { bytesRead } = await input.read(buf, got, n - got, at + got);
          if (bytesRead === 0) throw new Error(`${from} ended early at ${at + got}`);
          got += bytesRead;
        }
        const chunk = buf.subarray(0, n);
        if (isZeroBlock(chunk)) continue;
        let put = 0;
        while (put < n) {
          const { bytesWritten } = await output.write(chunk, put, n - put, at + put);
          put += bytesWritten;
        }
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}
