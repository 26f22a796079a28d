import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import type { BundleChunk, SupportBundle } from '../../app/protocol';
import type { Logger } from '../log';
import { drop } from '../util/drop';

export interface BundleStoreOptions {
  /** `<dataDir>/support`: nothing else lives there. */
  readonly dir: string;
  readonly log: Logger;
  /** A bundle nobody removed is deleted this long after it was made (default 1 h). */
  readonly ttlMs?: number;
  /** Finished bundles kept at most; the oldest goes first (default 3). */
  readonly maxKept?: number;
  readonly now?: () => number;
}

const DEFAULT_TTL_MS = 60 * 60 * 1000;
const DEFAULT_MAX_KEPT = 3;
const SWEEP_MS = 60 * 1000;

/**
 * The finished bundles of this agent, in `<dataDir>/support/<bundleId>.tar.gz`, and the work
 * folders of the one being made. Bounded disk: at most `maxKept` bundles, each deleted when
 * the console removes it or when its TTL ends, and everything in the folder is deleted at
 * start (a bundle does not outlive the agent process that made it). Reads go only to ids in
 * the table: a bundle id never becomes a path unless this agent made that bundle.
 */
export class BundleStore {
  private readonly bundles = new Map<string, SupportBundle>();
  /** Ids being collected: their work folders are not leftovers. */
  private readonly working = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BundleStoreOptions) {}

  get ttlMs(): number {
    return this.options.ttlMs ?? DEFAULT_TTL_MS;
  }

  now(): number {
    return (this.options.now ?? Date.now)();
  }

  async start(): Promise<void> {
    await rm(this.options.dir, { recursive: true, force: true });
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    this.timer = setInterval(() => drop(this.sweep(), () => undefined), SWEEP_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.bundles.clear();
    await rm(this.options.dir, { recursive: true, force: true });
  }

  /** A new bundle id with its work folder and the path its archive is to be written to. */
  async reserve(): Promise<{ bundleId: string; workDir: string; file: string }> {
    const bundleId = randomUUID();
    const workDir = join(this.options.dir, `${bundleId}.work`);
    await mkdir(workDir, { mode: 0o700 });
    this.working.add(bundleId);
    return { bundleId, workDir, file: this.fileOf(bundleId) };
  }

  /** Records a finished bundle (its work folder is gone); drops the oldest beyond maxKept. */
  async add(bundle: SupportBundle): Promise<void> {
    this.working.delete(bundle.bundleId);
    this.bundles.set(bundle.bundleId, bundle);
    const excess = this.bundles.size - (this.options.maxKept ?? DEFAULT_MAX_KEPT);
    const oldest = [...this.bundles.values()]
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, Math.max(0, excess));
    for (const b of oldest) await this.remove(b.bundleId);
  }

  async read(bundleId: string, offset: number, length: number): Promise<BundleChunk> {
    const bundle = this.require(bundleId);
    if (offset > bundle.bytes) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `Offset ${offset} is past the end of bundle ${bundleId} (${bundle.bytes} bytes)`,
        { bundleId, offset, bytes: bundle.bytes },
      );
    }
    const want = Math.min(length, bundle.bytes - offset);
    const buffer = Buffer.alloc(want);
    const handle = await open(this.fileOf(bundleId), 'r');
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await handle.read(buffer, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return {
      bundleId,
      offset,
      data: buffer.subarray(0, got).toString('base64'),
      eof: offset + got >= bundle.bytes,
    };
  }

  /** Deletes a bundle (or a failed one's leftovers); false if there was none. */
  async remove(bundleId: string): Promise<boolean> {
    const known = this.bundles.delete(bundleId);
    this.working.delete(bundleId);
    await rm(this.fileOf(bundleId), { force: true });
    await rm(join(this.options.dir, `${bundleId}.work`), { recursive: true, force: true });
    return known;
  }

  /** Deletes expired bundles, and files in the folder that no bundle or collection owns. */
  async sweep(): Promise<void> {
    const now = this.now();
    for (const b of [...this.bundles.values()]) {
      if (b.expiresAt <= now) {
        await this.remove(b.bundleId);
        this.options.log.info({ bundleId: b.bundleId }, 'support bundle expired and deleted');
      }
    }
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    for (const name of names) {
      const id = name.replace(/\.(tar\.gz|work)$/, '');
      if (!this.bundles.has(id) && !this.working.has(id)) {
        await rm(join(this.options.dir, name), { recursive: true, force: true });
      }
    }
  }

  private fileOf(bundleId: string): string {
    return join(this.options.dir, `${bundleId}.tar.gz`);
  }

  private require(bundleId: string): SupportBundle {
    const bundle = this.bundles.get(bundleId);
    if (bundle === undefined || bundle.expiresAt <= this.now()) {
      throw new TidelineError(
        'NOT_FOUND',
        `No support bundle ${bundleId} on this agent: it was removed, it expired (bundles are kept ${Math.round(this.ttlMs / 60_000)} min), or the agent restarted. Collect it again.`,
        { bundleId },
      );
    }
    return bundle;
  }
}
