import { KeyedQueue } from '../util/keyed-queue';
import { requireVpgPeer } from '../replication/vpg-peer-guard';
import { join } from 'node:path';
import { readdir, rm } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import { MetadataPackageSchema, type MetadataPackage } from '../../app/protocol';
import { journalDirFor } from '../journal/layout';
import type { Logger } from '../log';
import type { ControlCaller } from '../peer/control-channel';
import type { StoredVpg } from '../replication/vpg-store';
import { parsePeer } from '../replication/vpg-control';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';
import { MetadataPutParamsSchema, type MetadataPutResult } from './metadata-control';
import type { MetadataStore } from './recovery-types';

export const METADATA_FILE = 'metadata.json';

/** `<dataDir>/journal/<vpgId>/metadata.json`: beside the journal, deleted with it. */
export function metadataPath(dataDir: string, vpgId: string): string {
  return join(journalDirFor(dataDir, vpgId), METADATA_FILE);
}

export interface FileMetadataStoreOptions {
  readonly dataDir: string;
  readonly log: Logger;
  /** The VPG as this agent stores it (only received VPGs take packages). */
  readonly vpg: (vpgId: string) => StoredVpg | undefined;
}

/**
 * The recovery site's copy of each received VPG's latest metadata package (recovery-types.ts),
 * in the VPG's journal directory, written atomically. A package older than the one held never
 * replaces it; the file goes with the journal directory when the VPG is removed.
 */
export class FileMetadataStore implements MetadataStore {
  private readonly packages = new Map<string, MetadataPackage>();
  private readonly queue = new KeyedQueue();

  constructor(private readonly options: FileMetadataStoreOptions) {}

  /** Reads the packages of the received VPGs (at start, after the VPG store is loaded). */
  async load(vpgIds: readonly string[]): Promise<void> {
    for (const vpgId of vpgIds) {
      const dir = journalDirFor(this.options.dataDir, vpgId);
      await removeStaleTemps(dir);
      try {
        const pkg = await readJsonFile(
          metadataPath(this.options.dataDir, vpgId),
          MetadataPackageSchema,
          'Metadata package',
        );
        if (pkg.vpgId === vpgId) this.packages.set(vpgId, pkg);
      } catch (err) {
        if (err instanceof TidelineError && err.code === 'NOT_FOUND') continue;
        // The protected site sends it again at its next capture (every few minutes).
        this.options.log.warn({ err, vpgId }, 'cannot read the metadata package of a VPG');
      }
    }
  }

  latest(vpgId: string): MetadataPackage | undefined {
    if (this.received(vpgId) === undefined) {
      this.packages.delete(vpgId); // removed here: its file went with the journal
      return undefined;
    }
    return this.packages.get(vpgId);
  }

  /** `vpg.metadata.put` from the protected site's agent. */
  async put(params: unknown, caller: ControlCaller): Promise<MetadataPutResult> {
    const { package: pkg } = parsePeer(MetadataPutParamsSchema, params, 'vpg.metadata.put');
    // One put at a time per VPG, so versions are compared against what is on disk.
    return this.queue.run(pkg.vpgId, async () => {
      const vpg = requireVpgPeer(this.received(pkg.vpgId), pkg.vpgId, 'target', caller);
      if (pkg.protectedSiteId !== vpg.protectedSiteId) {
        throw new TidelineError(
          'CONFLICT',
          `The metadata package of VPG "${vpg.name}" names site ${pkg.protectedSiteId}, not its protected site ${vpg.protectedSiteId}`,
        );
      }
      const held = this.packages.get(pkg.vpgId);
      if (held !== undefined && held.version > pkg.version) return { version: held.version };
      const path = metadataPath(this.options.dataDir, pkg.vpgId);
      await writeJsonAtomic(path, pkg, { mode: 0o600 });
      if (this.received(pkg.vpgId) === undefined) {
        // Dropped while it was written: leave nothing behind in its (deleted) directory.
        await rm(path, { force: true });
        throw new TidelineError('NOT_FOUND', `VPG ${pkg.vpgId} was removed at the recovery site`);
      }
      this.packages.set(pkg.vpgId, pkg);
      if (held?.version !== pkg.version) {
        this.options.log.info(
          { vpgId: pkg.vpgId, version: pkg.version, vms: pkg.vms.length },
          'metadata package stored',
        );
      }
      return { version: pkg.version };
    });
  }

  private received(vpgId: string): StoredVpg | undefined {
    const vpg = this.options.vpg(vpgId);
    return vpg?.role === 'target' ? vpg : undefined;
  }
}

/** Temp files of an interrupted metadata write (only ours: the journal writes its own). */
async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const mine = new RegExp(`^\\.${METADATA_FILE.replace('.', '\\.')}\\.tmp-`);
  for (const name of names) {
    if (mine.test(name)) await rm(join(dir, name), { force: true });
  }
}
