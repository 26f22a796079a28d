import type { FileHandle } from 'node:fs/promises';

/**
 * Reads into all of `into` from `position`, however the kernel splits it; stops early only at
 * the end of the file. Returns the bytes read: less than `into.length` means the file ended
 * (each caller decides what that is: zeros, a torn file, an error).
 */
export async function readFully(
  handle: FileHandle,
  into: Buffer,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
