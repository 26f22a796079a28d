import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { writeJsonAtomic } from '../store/atomic-file';
import { errnoMessage, isErrno } from '../store/json-file';

/**
 * 'queue': every request becomes a record in the outbox. 'bitmap': the outbox went over its
 * limit (or failed), so requests only mark their regions in the disks' dirty bitmaps until a
 * resync. Persisted, so a restart keeps treating writes the same way.
 */
export type SourceMode = 'queue' | 'bitmap';

const SourceStateSchema = z.strictObject({
  version: z.literal(1),
  mode: z.enum(['queue', 'bitmap']),
});
type SourceState = z.infer<typeof SourceStateSchema>;

const FILE = 'source.json';

/** Ids become file names: refuse anything that could leave the directory. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkSafeId(id: string, what: string): void {
  if (!SAFE_ID.test(id)) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `${what} "${id}" cannot name a file: use letters, digits, '.', '_' or '-' (at most 128)`,
    );
  }
}

export async function readSourceMode(dir: string): Promise<SourceMode> {
  const path = join(dir, FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'queue';
    throw new TidelineError('INTERNAL_ERROR', `Cannot read ${path}: ${errnoMessage(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = SourceStateSchema.safeParse(value);
  // Unknown mode: bitmap is the safe guess (a resync finds any difference).
  return parsed.success ? parsed.data.mode : 'bitmap';
}

export async function writeSourceMode(dir: string, mode: SourceMode): Promise<void> {
  const state: SourceState = { version: 1, mode };
  await writeJsonAtomic(join(dir, FILE), state);
}
