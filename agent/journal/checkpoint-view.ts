import { fillFromView } from './export';
import { SOURCE_REPLICA, type ExtentMap } from './extent-index';
import type { ReplicaDisk } from './replica';
import type { SegmentFile } from './segment-file';

/** What a CheckpointView needs of its journal (Journal.openView provides it). */
export interface ViewHost {
  /** Runs `fn` under the journal's shared replica lock (no apply meanwhile). */
  shared<T>(fn: () => Promise<T>): Promise<T>;
  /** Changes whenever an apply moved the replica (the map must then be resolved again). */
  generation(): number;
  /** Resolves the disk's map at the checkpoint now; throws if the point is gone. */
  resolve(): ExtentMap<SegmentFile>;
  readonly replica: ReplicaDisk;
}

export interface DiskExtent {
  readonly start: number;
  readonly end: number;
}

/**
 * One disk as of one checkpoint, for many reads (a recovered VM's I/O): the extent map is
 * resolved once and kept, not per read as Journal.readAt does. An apply under a pin (up to
 * the checkpoint) changes which bytes come from the replica and may release segments the map
 * points into, so the map is resolved again when the journal's apply generation moved.
 */
export class CheckpointView {
  private map: ExtentMap<SegmentFile>;
  private builtAt: number;

  constructor(
    private readonly host: ViewHost,
    readonly diskId: string,
    readonly checkpointSeq: number,
    map: ExtentMap<SegmentFile>,
  ) {
    this.map = map;
    this.builtAt = host.generation();
  }

  get size(): number {
    return this.host.replica.sizeBytes;
  }

  /** Fills `into` with the disk's bytes from `offset` at the checkpoint. */
  read(offset: number, into: Buffer): Promise<void> {
    return this.host.shared(() => fillFromView(this.current(), this.host.replica, into, offset));
  }

  /**
   * The extents whose bytes do not come from the replica (journal data or zeros), merged and
   * in order: what promotion writes into the replica, what a benchmark reads.
   */
  writtenExtents(): Promise<DiskExtent[]> {
    return this.host.shared(async () => {
      const map = this.current();
      const out: { start: number; end: number }[] = [];
      for (let i = 0; i < map.size; i += 1) {
        const p = map.piece(i);
        if (p.source === SOURCE_REPLICA) continue;
        const last = out.at(-1);
        if (last !== undefined && last.end === p.start) last.end = p.end;
        else out.push({ start: p.start, end: p.end });
      }
      return out;
    });
  }

  /** The map for the replica as it is now; the caller holds the shared lock. */
  private current(): ExtentMap<SegmentFile> {
    const generation = this.host.generation();
    if (generation !== this.builtAt) {
      this.map = this.host.resolve();
      this.builtAt = generation;
    }
    return this.map;
  }
}
