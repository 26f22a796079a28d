import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { LineSplitter } from '../../app/support/line-splitter';

/** A line longer than this is cut (a JSON log line is far shorter). */
export const MAX_LINE_CHARS = 64 * 1024;

/**
 * Copies the text file `src` to the new file `dest` line by line through `map` (undefined
 * drops the line), reading and writing as streams with back-pressure. Returns bytes written.
 */
export async function copyLines(
  src: string,
  dest: string,
  map: (line: string) => string | undefined,
  signal?: AbortSignal,
): Promise<{ bytes: number; lines: number }> {
  const input = createReadStream(src, { encoding: 'utf8', highWaterMark: 256 * 1024 });
  const output = createWriteStream(dest, { flags: 'wx', mode: 0o600 });
  const splitter = new LineSplitter(MAX_LINE_CHARS);
  let bytes = 0;
  let lines = 0;
  const put = async (batch: readonly string[]): Promise<void> => {
    for (const raw of batch) {
      const kept = map(raw);
      if (kept === undefined) continue;
      const text = `${kept}\n`;
      bytes += Buffer.byteLength(text);
      lines += 1;
      if (!output.write(text)) await once(output, 'drain');
    }
  };
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      signal?.throwIfAborted();
      await put(splitter.push(chunk));
    }
    await put(splitter.end());
    output.end();
    await once(output, 'finish');
  } catch (err) {
    input.destroy();
    output.destroy();
    throw err;
  }
  return { bytes, lines };
}
