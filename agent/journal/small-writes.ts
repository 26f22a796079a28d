import { Worker } from 'node:worker_threads';
import type { JournalLog } from './options';
import type { SmallWritesDone, SmallWritesJob } from './small-writes-worker';

/**
 * Apply's small replica writes on a worker thread, written synchronously there. A thread-pool
 * write costs a 4 KiB record ≈ 23 µs of CPU, a synchronous one ≈ 9 µs; on the event loop a
 * kernel throttling dirty pages would hold receives and acks for each (bench/README.md § 13),
 * on the worker only the worker waits. One message per batch of records, their bytes copied
 * into one transferred buffer (bench/README.md § 19).
 */

/** A batch is sent once it holds this many bytes (and at every flush). */
export const SMALL_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Batch buffers: a batch of small records ends past SMALL_BATCH_BYTES by less than one of
 * them; one with a larger unaligned record gets a buffer of its own (batchBuffer).
 */
const BATCH_BUFFER_BYTES = SMALL_BATCH_BYTES + 256 * 1024;
/** Batch buffers kept for reuse once the worker gives them back. */
const SPARE_BUFFERS = 4;
const spare: ArrayBuffer[] = [];

function batchBuffer(bytes: number): ArrayBuffer {
  if (bytes > BATCH_BUFFER_BYTES) return new ArrayBuffer(bytes); // a large unaligned record
  return spare.pop() ?? new ArrayBuffer(BATCH_BUFFER_BYTES);
}

function giveBack(buffer: ArrayBuffer | undefined): void {
  if (buffer?.byteLength === BATCH_BUFFER_BYTES && spare.length < SPARE_BUFFERS) {
    spare.push(buffer);
  }
}

/**
 * The worker's code: built, the entry beside the agent's bundle (scripts/build.mjs); under tsx
 * (tests, benches) its source, which a worker can only load after registering tsx, as a
 * worker does not inherit the loader.
 */
function startWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./small-writes-worker.mjs', here));
  const source = new URL('./small-writes-worker.ts', here).href;
  return new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); })`,
    { eval: true },
  );
}

/** The process's worker, started at the first batch; null once it failed to run. */
let shared: SmallWriteWorker | undefined | null;

class SmallWriteWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(): void; reject(err: Error): void }>();
  private nextId = 1;
  /** Why it stopped (or never ran); set once. */
  failure: Error | undefined;
  /** Whether it runs: its first message says it listens, an error or exit before says not. */
  readonly ready: Promise<boolean>;

  constructor() {
    // Ref'd until it says it listens, and while batches are pending: a promise alone does
    // not keep the process alive, and an idle worker must not.
    this.worker = startWorker();
    let started: (ok: boolean) => void = () => undefined;
    this.ready = new Promise((resolve) => (started = resolve));
    this.worker.on('message', (done: SmallWritesDone) => {
      if (done.id === 0) {
        if (this.pending.size === 0) this.worker.unref();
        return started(true);
      }
      giveBack(done.data);
      const waiter = this.pending.get(done.id);
      if (waiter === undefined) return;
      this.pending.delete(done.id);
      if (this.pending.size === 0) this.worker.unref();
      if (done.error === undefined) waiter.resolve();
      else {
        waiter.reject(Object.assign(new Error(done.error.message), { code: done.error.code }));
      }
    });
    const fail = (err: Error): void => {
      this.failure ??= err;
      started(false);
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', () => fail(new Error('the small-writes worker exited')));
  }

  run(job: Omit<SmallWritesJob, 'id'>): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...job, id }, [job.data, job.plan.buffer as ArrayBuffer]);
    });
  }
}

/**
 * The worker once it runs; undefined if it cannot, and then for the rest of the process (the
 * writes go through the thread pool, slower but the same), which `log` is told once.
 */
async function worker(log?: JournalLog): Promise<SmallWriteWorker | undefined> {
  if (shared === undefined) {
    try {
      shared = new SmallWriteWorker();
    } catch (err) {
      shared = null;
      reportFailure(log, err);
    }
  }
  const current = shared;
  if (current === null) return undefined;
  if ((await current.ready) && current.failure === undefined) return current;
  if (shared === current) {
    shared = null;
    reportFailure(log, current.failure);
  }
  return undefined;
}

function reportFailure(log: JournalLog | undefined, err: unknown): void {
  log?.warn(
    { err: err instanceof Error ? err.message : String(err) },
    "apply's worker thread does not run: small replica writes go through the thread pool",
  );
}

/** Whether this process's worker runs (tests). */
export async function smallWritesWorkerRuns(): Promise<boolean> {
  return (await worker()) !== undefined;
}

/** A file the worker writes by its descriptor, or the caller itself without a worker. */
export interface SmallWriteTarget {
  readonly fd: number;
  write(offset: number, data: Buffer): Promise<void>;
}

interface Part {
  readonly target: SmallWriteTarget;
  readonly offset: number;
  readonly data: Buffer;
}

/**
 * Small writes gathered in order and written by the worker, in that order. `add` keeps a view
 * of the caller's bytes, which must stay unchanged until `flush` resolves: then all added
 * writes are in the page cache. Without a worker (it could not start, or died) they go
 * through the target's own `write`, one after the other. The targets must stay open until
 * then (apply holds the replica lock).
 */
export class SmallWrites {
  constructor(private readonly log?: JournalLog) {}

  private parts: Part[] = [];
  private bytes = 0;
  private done: Promise<void> = Promise.resolve();

  add(target: SmallWriteTarget, offset: number, data: Buffer): void {
    this.parts.push({ target, offset, data });
    this.bytes += data.length;
    if (this.bytes >= SMALL_BATCH_BYTES) this.send();
  }

  /** Waits for every write added; the first failure is thrown. */
  async flush(): Promise<void> {
    this.send();
    const done = this.done;
    this.done = Promise.resolve();
    await done;
  }

  private send(): void {
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    const total = this.bytes;
    this.bytes = 0;
    const previous = this.done;
    // Batches reach the worker in order (each waits for the same start); the worker writes
    // them in order. Without it, each waits for the one before.
    const sent = worker(this.log).then(async (w) => {
      if (w !== undefined) return w.run(pack(parts, total));
      await previous;
      for (const p of parts) await p.target.write(p.offset, p.data);
    });
    // Every batch is waited for; the first failure is the one flush throws.
    this.done = Promise.all([previous, sent]).then(() => undefined);
    // Handled here until flush awaits it: a failure must not count as unhandled meanwhile.
    this.done.catch(() => undefined);
  }
}

/** The parts' bytes copied into one buffer the worker will own, and where each goes. */
function pack(parts: readonly Part[], total: number): Omit<SmallWritesJob, 'id'> {
  const data = batchBuffer(total);
  const view = Buffer.from(data);
  const plan = new Float64Array(parts.length * 4);
  let at = 0;
  parts.forEach((p, i) => {
    p.data.copy(view, at);
    plan.set([p.target.fd, p.offset, at, p.data.length], i * 4);
    at += p.data.length;
  });
  return { data, plan };
}
