import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { TidelineError } from '../../../app/errors';
import { SUPPORT_MAX_FILES, SupportFileSchema } from '../../../app/protocol';
import { LineSplitter } from '../../../app/support/line-splitter';
import type { Redactor } from '../../../app/support/redact';

/** An agent's bundle unpacks to this much at most (a bomb is refused past it). */
export const MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;
const MAX_LINE_CHARS = 64 * 1024;

/**
 * Unpacks an agent's tar.gz into `destDir`, each file passed line by line through the
 * console's Redactor (the console knows the agents' tokens in clear; an agent does not).
 * The archive came from the network: only regular files with plain relative names
 * (SupportFileSchema) are taken, at most SUPPORT_MAX_FILES of them and MAX_UNPACKED_BYTES in
 * all; anything else refuses the whole archive. Returns the written names.
 */
export async function extractRedacted(
  archive: string,
  destDir: string,
  redactor: Redactor,
): Promise<string[]> {
  const entries = extract();
  const feeding = pipeline(createReadStream(archive), createGunzip(), entries);
  const names: string[] = [];
  let unpacked = 0;
  try {
    for await (const entry of entries) {
      const { name, type, size } = entry.header;
      const path = SupportFileSchema.shape.path.safeParse(name.replace(/^\.\//, ''));
      if (type !== 'file' || !path.success) {
        throw refused(`an entry that is not a plain file (${JSON.stringify(name.slice(0, 80))})`);
      }
      unpacked += size ?? 0;
      if (names.length >= SUPPORT_MAX_FILES || unpacked > MAX_UNPACKED_BYTES) {
        throw refused(`more than ${SUPPORT_MAX_FILES} files or ${MAX_UNPACKED_BYTES} bytes`);
      }
      const out = join(destDir, path.data);
      await mkdir(dirname(out), { recursive: true, mode: 0o700 });
      await writeRedacted(entry, out, redactor);
      names.push(path.data);
    }
    await feeding;
  } catch (err) {
    entries.destroy();
    await feeding.catch(() => undefined);
    throw err;
  }
  return names;
}

async function writeRedacted(
  source: AsyncIterable<unknown>,
  dest: string,
  redactor: Redactor,
): Promise<void> {
  const output = createWriteStream(dest, { flags: 'wx', mode: 0o600 });
  const splitter = new LineSplitter(MAX_LINE_CHARS);
  const decoder = new TextDecoder();
  const put = async (lines: readonly string[]): Promise<void> => {
    for (const line of lines) {
      if (!output.write(`${redactor.line(line)}\n`)) await once(output, 'drain');
    }
  };
  try {
    for await (const chunk of source) {
      if (!(chunk instanceof Uint8Array))
        throw new TypeError('a tar entry yielded something else than bytes');
      await put(splitter.push(decoder.decode(chunk, { stream: true })));
    }
    await put(splitter.push(decoder.decode()));
    await put(splitter.end());
    output.end();
    await once(output, 'finish');
  } catch (err) {
    output.destroy();
    throw err;
  }
}

function refused(what: string): TidelineError {
  return new TidelineError('INVALID_RESULT', `The agent's bundle was refused: it holds ${what}`);
}
