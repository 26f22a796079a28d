import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';

/** Regular files under `dir`, depth first, as '/'-separated relative names. */
async function filesUnder(dir: string, root = dir): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(path, root)));
    else if (entry.isFile()) found.push(relative(root, path).split(sep).join('/'));
  }
  return found.sort();
}

/**
 * The console's archive: every file of the staging folder `dir` (which only the console
 * wrote) into the new file `dest` as a tar.gz, streamed. Returns its size and SHA-256.
 */
export async function packFolder(
  dir: string,
  dest: string,
): Promise<{ bytes: number; sha256: string; files: string[] }> {
  const names = await filesUnder(dir);
  const archive = pack();
  const digest = createHash('sha256');
  let bytes = 0;
  const counted = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      digest.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  };
  const done = pipeline(
    archive,
    createGzip(),
    counted,
    createWriteStream(dest, { flags: 'wx', mode: 0o600 }),
  );
  try {
    for (const name of names) {
      const path = join(dir, name);
      const { size } = await stat(path);
      const sink = archive.entry({ name, size, mode: 0o644, mtime: new Date() });
      await pipeline(
        size === 0 ? Readable.from([]) : createReadStream(path, { end: size - 1 }),
        sink,
      );
    }
    archive.finalize();
    await done;
  } catch (err) {
    archive.destroy(err instanceof Error ? err : new Error(String(err)));
    await done.catch(() => undefined);
    throw err;
  }
  return { bytes, sha256: digest.digest('hex'), files: names };
}
