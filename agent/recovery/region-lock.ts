/**
 * Exclusive locks on ranges of blocks. A range is registered on all its blocks at once
 * (synchronously), so lockers wait only for those registered before them: no deadlock,
 * first come first served per block.
 */
export class RegionLock {
  private readonly tails = new Map<number, Promise<void>>();

  async run<T>(first: number, last: number, fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const waits = new Set<Promise<void>>();
    for (let b = first; b <= last; b += 1) {
      const previous = this.tails.get(b);
      if (previous !== undefined) waits.add(previous);
      this.tails.set(b, mine);
    }
    if (waits.size > 0) await Promise.all(waits);
    try {
      return await fn();
    } finally {
      release();
      for (let b = first; b <= last; b += 1) if (this.tails.get(b) === mine) this.tails.delete(b);
    }
  }
}
