import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';

/** Every file of a tar.gz in memory, by name (test bundles are small). */
export async function readTarGz(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const entries = extract();
  const feeding = pipeline(Readable.from([archive]), createGunzip(), entries);
  for await (const entry of entries) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    files.set(entry.header.name, Buffer.concat(chunks));
  }
  await feeding;
  return files;
}

/** The names of the files of `files` whose bytes contain any of `secrets` (with which one). */
export function holdersOf(
  files: ReadonlyMap<string, Buffer>,
  secrets: readonly string[],
): { file: string; secret: string }[] {
  const found: { file: string; secret: string }[] = [];
  for (const [file, bytes] of files) {
    for (const secret of secrets)
      if (bytes.includes(secret)) found.push({ file, secret: secret.slice(0, 12) });
  }
  return found;
}

/** A whole archive read in chunks through `read` (log.bundleRead, support.read) until eof. */
export async function readAllChunks(
  read: (offset: number) => Promise<{ data: string; eof: boolean }>,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let offset = 0; ;) {
    const got = await read(offset);
    const data = Buffer.from(got.data, 'base64');
    parts.push(data);
    offset += data.length;
    if (got.eof) return Buffer.concat(parts);
  }
}
