import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Alert, Peer, SiteDetails, Task, VpgState } from '../../app/protocol';

/** What the state summaries are made of: the daemon's own services, read when collecting. */
export interface StateSources {
  readonly site: () => SiteDetails;
  readonly vpgs: () => VpgState[];
  readonly peers: () => Peer[];
  readonly tasks: () => Task[];
  readonly alerts: () => Alert[];
  /** `<dataDir>/outbox` and `<dataDir>/journal`: one folder per VPG. */
  readonly outboxDir: string;
  readonly journalDir: string;
}

/** Files walked at most per folder when sizing journals and outboxes. */
const MAX_WALK_ENTRIES = 20_000;

/**
 * The state summaries of a bundle, one JSON value per file name: what support asks first
 * (which VPGs, in which state, how far behind, how much journal and outbox on disk, which
 * peers and links, what ran lately and how it ended, which alerts).
 */
export async function stateSummaries(sources: StateSources): Promise<Record<string, unknown>> {
  const vpgs = sources.vpgs();
  const storage = await Promise.all(
    vpgs.map(async (v) => ({
      vpgId: v.vpgId,
      name: v.name,
      role: v.role,
      status: v.status,
      backlogBytes: v.backlogBytes,
      journalBytes: v.journalBytes,
      lastSeq: v.lastSeq,
      confirmedSeq: v.confirmedSeq,
      outboxOnDisk: await folderUse(join(sources.outboxDir, v.vpgId)),
      journalOnDisk: await folderUse(join(sources.journalDir, v.vpgId)),
    })),
  );
  return {
    'state/site.json': sources.site(),
    'state/vpgs.json': vpgs,
    'state/storage.json': storage,
    'state/peers.json': sources.peers(),
    'state/tasks.json': sources.tasks(),
    'state/alerts.json': sources.alerts(),
  };
}

/** Files and bytes under `dir` (allocated size unknown: sparse files count their length). */
async function folderUse(dir: string): Promise<{ files: number; bytes: number } | null> {
  let files = 0;
  let bytes = 0;
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0 && seen < MAX_WALK_ENTRIES) {
    const current = pending.pop() as string;
    const entries = await readdir(current, { withFileTypes: true }).catch(() => undefined);
    if (entries === undefined) {
      if (current === dir) return null;
      continue;
    }
    for (const entry of entries) {
      seen += 1;
      const path = join(current, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) {
        files += 1;
        bytes += (await stat(path).catch(() => ({ size: 0 }))).size;
      }
    }
  }
  return { files, bytes };
}
