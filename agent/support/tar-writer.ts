import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Pack } from 'tar-stream';

/** One file of an archive: bytes in memory (small JSON), or a file on disk (filtered logs). */
export type TarEntry =
  | { readonly name: string; readonly data: Buffer }
  | { readonly name: string; readonly file: string };

/**
 * Writes `entries` as a tar.gz to `dest` (a new file, mode 0600), streaming: memory stays at
 * a chunk or two whatever the entries' sizes. Returns its size and SHA-256, taken on the way.
 */
export async function writeTarGz(
  dest: string,
  entries: AsyncIterable<TarEntry> | Iterable<TarEntry>,
  signal?: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const archive = pack();
  const hash = createHash('sha256');
  let bytes = 0;
  const written = pipeline(
    archive,
    createGzip(),
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(dest, { flags: 'wx', mode: 0o600 }),
    ...(signal !== undefined ? [{ signal }] : []),
  );
  try {
    for await (const entry of entries) {
      signal?.throwIfAborted();
      await addEntry(archive, entry);
    }
    archive.finalize();
  } catch (err) {
    archive.destroy(err instanceof Error ? err : new Error(String(err)));
    await written.catch(() => undefined);
    throw err;
  }
  await written;
  return { bytes, sha256: hash.digest('hex') };
}

async function addEntry(archive: Pack, entry: TarEntry): Promise<void> {
  const header = { name: entry.name, mode: 0o644, mtime: new Date(), type: 'file' as const };
  if ('data' in entry) {
    await new Promise<void>((resolve, reject) => {
      archive.entry({ ...header, size: entry.data.length }, entry.data, (err) =>
        err ? reject(err) : resolve(),
      );
    });
    return;
  }
  const { size } = await stat(entry.file);
  if (size === 0) return addEntry(archive, { name: entry.name, data: Buffer.alloc(0) });
  // Exactly the size in the header: a file that grew since would corrupt the archive.
  const sink = archive.entry({ ...header, size });
  await pipeline(createReadStream(entry.file, { end: size - 1 }), sink);
}
