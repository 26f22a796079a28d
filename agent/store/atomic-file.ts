import { randomBytes } from 'node:crypto';
import { link, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of a newly written file (default 0o644; use 0o600 for secrets). */
  readonly mode?: number;
  /** Refuse to replace an existing file: fails with an EEXIST error instead. */
  readonly exclusive?: boolean;
}

const TEMP_MARK = '.tmp-';
const TEMP_PATTERN = /^\..+\.tmp-\d+-[0-9a-f]{12}$/;

/**
 * Writes a file so that a crash at any moment leaves either the old content or the new one,
 * never a mix: write a temp file in the same directory, fsync it, rename it over the target
 * (or link it, for `exclusive`), then fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(
    dir,
    `.${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(6).toString('hex')}`,
  );
  const handle = await open(temp, 'wx', options.mode ?? 0o644);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive === true) {
      await link(temp, path);
      await unlink(temp);
    } else {
      await rename(temp, path);
    }
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDirectory(dir);
}

/** `writeFileAtomic` of a value as pretty JSON with a trailing newline. */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** Makes a directory's entries (a rename, a new file) durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes temp files that a crash in the middle of `writeFileAtomic` left behind in `dir`.
 * Only names this module makes are touched. Returns how many were removed.
 */
export async function removeStaleTempFiles(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (!TEMP_PATTERN.test(name)) continue;
    await rm(join(dir, name), { force: true });
    removed += 1;
  }
  return removed;
}
