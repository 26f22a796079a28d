import { join } from 'node:path';

/**
 * The files of one VPG's journal directory (`<dataDir>/journal/<vpgId>/`):
 *
 *   journal.json                  vpgId, disks and limits (so tools can reopen it)
 *   replica-state.json            appliedSeq: how far the replica disks have been brought
 *   journal.lock                  pid of the process that has the journal open
 *   pins.json                     apply holds of open recovery disks (README.md "Pins")
 *   seg-<firstSeq, 20 digits>.log append-only segments of encoded records (record.ts)
 */
export const CONFIG_FILE = 'journal.json';
export const STATE_FILE = 'replica-state.json';
export const LOCK_FILE = 'journal.lock';
export const PINS_FILE = 'pins.json';

const SEGMENT_PATTERN = /^seg-(\d{20})\.log$/;

export function segmentFileName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(20, '0')}.log`;
}

/** The first seq a segment's name declares, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const digits = SEGMENT_PATTERN.exec(name)?.[1];
  if (digits === undefined) return undefined;
  const seq = Number(digits);
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}

/** VPG ids become directory names: only characters that are safe in a path. */
export function isSafeVpgId(vpgId: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(vpgId);
}

export function journalDirFor(dataDir: string, vpgId: string): string {
  return join(dataDir, 'journal', vpgId);
}
