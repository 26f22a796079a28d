import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';
import { CONFIG_FILE, STATE_FILE } from './layout';

const SeqSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const CheckpointInfoSchema = z.strictObject({
  seq: SeqSchema,
  sourceTime: z.number().int().nonnegative(),
  name: z.string().optional(),
  inconsistent: z.literal(true).optional(),
});
export type CheckpointInfo = z.infer<typeof CheckpointInfoSchema>;

/**
 * replica-state.json: how far the replica disks have been brought. `applyingTo` is written
 * before the replica files are touched and cleared once appliedSeq has moved: while it is
 * set, the replicas may hold records beyond appliedSeq, so opening the journal finishes that
 * apply before serving any point in time.
 */
export const ReplicaStateSchema = z.strictObject({
  version: z.literal(1),
  appliedSeq: SeqSchema,
  applyingTo: SeqSchema.optional(),
  /** The checkpoint at appliedSeq: still a recoverable point (the replica itself). */
  appliedCheckpoint: CheckpointInfoSchema.optional(),
});
export type ReplicaState = z.infer<typeof ReplicaStateSchema>;

export const JournalDiskSchema = z.strictObject({
  diskId: z.string().min(1).max(1024),
  sizeBytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  replicaPath: z.string().min(1),
});

/** journal.json: what a tool needs to reopen the journal without the agent's VPG settings. */
export const JournalConfigSchema = z.strictObject({
  version: z.literal(1),
  vpgId: z.string().min(1),
  segmentBytes: z.number().int().positive(),
  historyMs: z.number().nonnegative(),
  hardLimitBytes: z.number().nonnegative(),
  warningBytes: z.number().nonnegative(),
  disks: z.array(JournalDiskSchema),
});
export type JournalConfig = z.infer<typeof JournalConfigSchema>;

export async function readReplicaState(dir: string): Promise<ReplicaState> {
  try {
    return await readJsonFile(join(dir, STATE_FILE), ReplicaStateSchema, 'replica state');
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND')
      return { version: 1, appliedSeq: 0 };
    throw err;
  }
}

export async function writeReplicaState(dir: string, state: ReplicaState): Promise<void> {
  await writeJsonAtomic(join(dir, STATE_FILE), state, { mode: 0o600 });
}

export async function readJournalConfig(dir: string): Promise<JournalConfig> {
  return readJsonFile(join(dir, CONFIG_FILE), JournalConfigSchema, 'journal configuration');
}

/** Writes journal.json unless it already says exactly this (an open must not churn it). */
export async function saveJournalConfig(dir: string, config: JournalConfig): Promise<void> {
  const path = join(dir, CONFIG_FILE);
  const text = `${JSON.stringify(config, null, 2)}\n`;
  try {
    if ((await readFile(path, 'utf8')) === text) return;
  } catch {
    // missing or unreadable: write it
  }
  await writeJsonAtomic(path, config, { mode: 0o600 });
}
