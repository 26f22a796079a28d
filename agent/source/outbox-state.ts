import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { writeJsonAtomic } from '../store/atomic-file';
import { errnoMessage, isErrno } from '../store/json-file';

/**
 * The outbox's small state file, written atomically (temp, fsync, rename) and only at rare
 * moments: before fully acknowledged segments are deleted, when the disks were made durable
 * up to a seq, and on open/close.
 */
const OutboxStateSchema = z.strictObject({
  version: z.literal(1),
  /**
   * The target acknowledged every record up to here. Segments whose records all lie at or
   * below it may be deleted; it is also the seq high-water mark once every segment is gone,
   * so a restart never reuses a seq.
   */
  ackedSeq: z.number().int().nonnegative(),
  /** Every record up to here is durable on the disk files: redo starts after it. */
  diskSyncedSeq: z.number().int().nonnegative(),
  /** False from open to a clean close: an unclean stop shows on the next open. */
  cleanShutdown: z.boolean(),
  /** Kernel boot id at the last open: a different one after an unclean stop means a host crash. */
  bootId: z.string(),
});
export type OutboxState = z.infer<typeof OutboxStateSchema>;

export const OUTBOX_STATE_FILE = 'outbox.json';

export function initialOutboxState(): OutboxState {
  return { version: 1, ackedSeq: 0, diskSyncedSeq: 0, cleanShutdown: true, bootId: '' };
}

/** The saved state, or undefined for a new outbox. */
export async function readOutboxState(dir: string): Promise<OutboxState | undefined> {
  const path = join(dir, OUTBOX_STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new TidelineError(
      'INTERNAL_ERROR',
      `Cannot read outbox state ${path}: ${errnoMessage(err)}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = OutboxStateSchema.safeParse(value);
  if (!parsed.success) {
    throw new TidelineError(
      'INTERNAL_ERROR',
      `Outbox state ${path} is damaged; restore it or remove the VPG's outbox and resync the VPG`,
    );
  }
  return parsed.data;
}

export async function writeOutboxState(dir: string, state: OutboxState): Promise<void> {
  await writeJsonAtomic(join(dir, OUTBOX_STATE_FILE), state);
}

/** This boot of the kernel ('' where /proc does not say). */
export async function currentBootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return '';
  }
}
