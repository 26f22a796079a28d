import { statfs } from 'node:fs/promises';

/** How often a VPG paused on a full file system looks whether it has room again. */
export const DISK_FULL_CHECK_MS = 5_000;
/**
 * Free space at which it resumes: far above one batch, so replication does not stop and start
 * at the edge while something else keeps the disk nearly full.
 */
export const DISK_FULL_RESUME_BYTES = 64 * 1024 * 1024;

/** Bytes an unprivileged writer may still allocate on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/** The error says the file system (or the quota) has no room. */
export function isNoSpaceError(err: unknown): boolean {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
