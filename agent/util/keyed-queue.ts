import { drop } from './drop';

/**
 * Runs work one at a time per key (a VPG id): each run starts after the previous one of its
 * key has settled, whatever its outcome. Keys with nothing queued take no memory.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    drop(
      tail.then(() => {
        if (this.tails.get(key) === tail) this.tails.delete(key);
      }),
      () => undefined,
    );
    return next;
  }

  /** What is queued for `key` now (settles when it is done), or undefined when idle. */
  pending(key: string): Promise<unknown> | undefined {
    return this.tails.get(key);
  }
}
