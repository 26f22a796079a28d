import { DEFAULT_BLOCK_BYTES, isZeroBlock } from './block-hasher';

/** How VpgSource.seed turns an extent's content into records. */
export interface SeedOptions {
  /**
   * 'skip': all-zero blocks are not sent (initial sync: the replica starts as zeros).
   * 'zero': they are sent as `zero` records (resync: the replica may hold anything there).
   */
  readonly zeroBlocks: 'skip' | 'zero';
  /** Granularity of the zero test (default 64 KiB, the dirty bitmap's region size). */
  readonly blockBytes?: number;
}

export interface SeedResult {
  /** Records sequenced (seed and zero). */
  readonly records: number;
  /** Bytes of disk content sent as seed data. */
  readonly dataBytes: number;
}

export type SeedPart =
  | { readonly kind: 'seed'; readonly offset: number; readonly data: Buffer }
  | { readonly kind: 'zero'; readonly offset: number; readonly length: number };

/**
 * Splits an extent's content (read at `offset`) into runs of non-zero blocks (seed) and runs
 * of zero blocks (zero, or nothing for 'skip'), in disk order.
 */
export function seedParts(data: Buffer, offset: number, options: SeedOptions): SeedPart[] {
  const block = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const parts: SeedPart[] = [];
  let runStart = 0;
  let runZero: boolean | undefined;
  const flush = (end: number): void => {
    if (runZero === undefined || end <= runStart) return;
    if (!runZero) {
      parts.push({ kind: 'seed', offset: offset + runStart, data: data.subarray(runStart, end) });
    } else if (options.zeroBlocks === 'zero') {
      parts.push({ kind: 'zero', offset: offset + runStart, length: end - runStart });
    }
  };
  for (let at = 0; at < data.length; at += block) {
    const zero = isZeroBlock(data.subarray(at, Math.min(data.length, at + block)));
    if (zero !== runZero) {
      flush(at);
      runStart = at;
      runZero = zero;
    }
  }
  flush(data.length);
  return parts;
}

interface Hold {
  readonly start: number;
  readonly end: number;
  readonly done: Promise<void>;
}

/**
 * Extents being read by a seed: a request to an overlapping extent waits before it is
 * sequenced, so it gets a seq after the seed's records (see VpgSource.seed).
 */
export class SeedHolds {
  private readonly byDisk = new Map<string, Hold[]>();

  /** Holds the extent; returns the release (idempotent). */
  hold(diskId: string, offset: number, length: number): () => void {
    let finish = (): void => undefined;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const entry: Hold = { start: offset, end: offset + Math.max(1, length), done };
    const list = this.byDisk.get(diskId) ?? [];
    list.push(entry);
    this.byDisk.set(diskId, list);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const current = this.byDisk.get(diskId);
      const i = current?.indexOf(entry) ?? -1;
      if (current !== undefined && i >= 0) current.splice(i, 1);
      if (current?.length === 0) this.byDisk.delete(diskId);
      finish();
    };
  }

  /** A hold overlapping any of the extents (resolves when it is released), or undefined. */
  overlapping(
    diskId: string,
    extents: readonly { readonly offset: number; readonly length: number }[],
  ): Promise<void> | undefined {
    const list = this.byDisk.get(diskId);
    if (list === undefined) return undefined;
    for (const hold of list) {
      for (const e of extents) {
        if (hold.start < e.offset + Math.max(1, e.length) && e.offset < hold.end) return hold.done;
      }
    }
    return undefined;
  }
}
