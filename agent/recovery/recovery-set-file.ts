import { join } from 'node:path';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

/**
 * Where a failover's recovered disks live: `<dataDir>/recovery/<failoverId>/` with `set.json`
 * and, per disk, `<diskId>.overlay` (sparse, the disk's size) and `<diskId>.map` (block map).
 */
export function recoverySetDir(dataDir: string, failoverId: string): string {
  return join(dataDir, 'recovery', failoverId);
}

export function overlayPath(dir: string, diskId: string): string {
  return join(dir, `${encodeURIComponent(diskId)}.overlay`);
}

export function mapPath(dir: string, diskId: string): string {
  return join(dir, `${encodeURIComponent(diskId)}.map`);
}

export function isSafeFailoverId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id);
}

/**
 * layered: view + overlay. promoting-view: stage 1 (the journal is frozen, the view's extents
 * are being written into the replicas). promoting-overlay: stage 2 (the replicas hold the
 * view; overlay blocks are being copied). promoted: the replicas are the disks.
 */
export const SetPhaseSchema = z.enum([
  'layered',
  'promoting-view',
  'promoting-overlay',
  'promoted',
]);
export type SetPhase = z.infer<typeof SetPhaseSchema>;

export const RecoverySetFileSchema = z.strictObject({
  version: z.literal(1),
  failoverId: z.string().min(1),
  vpgId: z.string().min(1),
  checkpointSeq: z.number().int().nonnegative(),
  disks: z.array(
    z.strictObject({
      sourceDiskId: z.string().min(1),
      diskId: z.string().min(1),
      sizeBytes: z.number().int().nonnegative(),
    }),
  ),
  phase: SetPhaseSchema,
});
export type RecoverySetFile = z.infer<typeof RecoverySetFileSchema>;

const SET_FILE = 'set.json';

export async function readSetFile(dir: string): Promise<RecoverySetFile | undefined> {
  try {
    return await readJsonFile(join(dir, SET_FILE), RecoverySetFileSchema, 'recovery disk set');
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
}

export async function writeSetFile(dir: string, file: RecoverySetFile): Promise<void> {
  await writeJsonAtomic(join(dir, SET_FILE), file, { mode: 0o600 });
}
