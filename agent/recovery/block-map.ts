import { open, type FileHandle } from 'node:fs/promises';
import { TidelineError } from '../../app/errors';
import { isErrno } from '../store/json-file';

/** Granularity of a recovered disk's overlay. */
export const BLOCK_BYTES = 64 * 1024;

/** Where a block's bytes are: the lower disk (view or replica), the overlay, or all zeros. */
export const BLOCK_LOWER = 0;
export const BLOCK_OVERLAY = 1;
export const BLOCK_ZERO = 2;
export type BlockState = typeof BLOCK_LOWER | typeof BLOCK_OVERLAY | typeof BLOCK_ZERO;

/** Unit of the map file written back at a flush. */
const PAGE = 4096;

/**
 * The persistent block map of a recovered disk: one byte per block (BlockState), in a file of
 * exactly one byte per block. A flush writes back the pages that changed, after the overlay's
 * data is durable (`persist`), so a block the map calls OVERLAY always has its data on disk.
 * A page torn by a crash mixes old and new states of blocks whose writes were not yet flushed:
 * acceptable, those writes were never promised durable.
 */
export class BlockMap {
  private readonly dirty = new Set<number>();
  private persisting: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly states: Uint8Array,
  ) {}

  /** Opens the map of a disk of `blocks` blocks, creating an all-LOWER map when missing. */
  static async open(path: string, blocks: number): Promise<BlockMap> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      handle = await open(path, 'wx+', 0o600);
      await handle.truncate(blocks);
      await handle.sync();
    }
    try {
      const { size } = await handle.stat();
      if (size !== blocks) {
        throw new TidelineError(
          'CONFLICT',
          `Block map ${path} has ${size} entries, not the ${blocks} its disk needs: the recovered disk cannot be reopened; discard the failover`,
        );
      }
      const states = new Uint8Array(blocks);
      const buf = Buffer.from(states.buffer, states.byteOffset, states.byteLength);
      for (let at = 0; at < blocks;) {
        const { bytesRead } = await handle.read(buf, at, blocks - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      for (const s of states) {
        if (s > BLOCK_ZERO) {
          throw new TidelineError('CONFLICT', `Block map ${path} is damaged (state ${s})`);
        }
      }
      return new BlockMap(path, handle, states);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  get blocks(): number {
    return this.states.length;
  }

  get(block: number): BlockState {
    return this.states[block] as BlockState;
  }

  set(block: number, state: BlockState): void {
    if (this.states[block] === state) return;
    this.states[block] = state;
    this.dirty.add(Math.floor(block / PAGE));
  }

  /** Blocks not LOWER (what promotion still has to copy). */
  countLayered(): number {
    let n = 0;
    for (const s of this.states) if (s !== BLOCK_LOWER) n += 1;
    return n;
  }

  /**
   * Makes the map durable as of now: the changed pages are copied, `dataDurable` runs (the
   * overlay's, or the replica's, datasync — covering every write whose block was set before
   * the copy), then the copies are written and synced. Calls are serialized, each covering
   * every change made before it was called.
   */
  persist(dataDurable: () => Promise<void>): Promise<void> {
    const run = this.persisting.then(async () => {
      const pages = [...this.dirty].sort((a, b) => a - b);
      this.dirty.clear();
      const copies = pages.map((p) =>
        Buffer.from(this.states.slice(p * PAGE, Math.min((p + 1) * PAGE, this.states.length))),
      );
      await dataDurable();
      if (pages.length === 0) return;
      try {
        for (const [i, p] of pages.entries()) {
          const page = copies[i] as Buffer;
          for (let done = 0; done < page.length;) {
            const { bytesWritten } = await this.handle.write(
              page,
              done,
              page.length - done,
              p * PAGE + done,
            );
            done += bytesWritten;
          }
        }
        await this.handle.datasync();
      } catch (err) {
        for (const p of pages) this.dirty.add(p); // written again by the next flush
        throw err;
      }
    });
    this.persisting = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.persisting;
    await this.handle.close();
  }
}
