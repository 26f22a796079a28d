/**
 * A readers-writer lock for async code, first come first served (a waiting writer holds back
 * later readers, so a stream of exports cannot starve the applier and vice versa).
 * `exclusive` alone makes it a mutex.
 */
export class AsyncRwLock {
  private readers = 0;
  private writing = false;
  private readonly waiting: { readonly write: boolean; readonly wake: () => void }[] = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.release(false);
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.release(true);
    }
  }

  private acquire(write: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.canEnter(write)) {
      this.enter(write);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ write, wake: resolve }));
  }

  private canEnter(write: boolean): boolean {
    return write ? !this.writing && this.readers === 0 : !this.writing;
  }

  private enter(write: boolean): void {
    if (write) this.writing = true;
    else this.readers += 1;
  }

  private release(write: boolean): void {
    if (write) this.writing = false;
    else this.readers -= 1;
    for (let next = this.waiting[0]; next !== undefined; next = this.waiting[0]) {
      if (!this.canEnter(next.write)) return;
      this.waiting.shift();
      this.enter(next.write);
      next.wake();
      if (next.write) return;
    }
  }
}
