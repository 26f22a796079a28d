// The worker thread of journal/small-writes.ts, an entry of its own (dist/agent/
// small-writes-worker.mjs beside the agent's bundle): it imports nothing but Node, so a worker
// costs its isolate and not a second copy of the agent (≈ 100 MiB).
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

export interface SmallWritesJob {
  readonly id: number;
  /** The writes' bytes, one after the other, transferred. */
  readonly data: ArrayBuffer;
  /** Per write, four numbers: fd, file offset, offset in data, length. */
  readonly plan: Float64Array;
}

export interface SmallWritesDone {
  readonly id: number;
  /** The job's buffer, transferred back for the next batch. */
  readonly data?: ArrayBuffer;
  readonly error?: { readonly code: string | undefined; readonly message: string };
}

/** Writes a job's writes in its order, synchronously: the first failure ends the job. */
function run(job: SmallWritesJob): SmallWritesDone {
  try {
    const data = Buffer.from(job.data);
    const { plan } = job;
    for (let i = 0; i + 3 < plan.length; i += 4) {
      const fd = plan[i] as number;
      const offset = plan[i + 1] as number;
      const at = plan[i + 2] as number;
      const length = plan[i + 3] as number;
      for (let done = 0; done < length;) {
        done += writeSync(fd, data, at + done, length - done, offset + done);
      }
    }
    return { id: job.id, data: job.data };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { id: job.id, data: job.data, error: { code: e.code, message: e.message } };
  }
}

// Loaded on a main thread (there is no parent), it serves nothing. Message id 0 says it listens.
// The buffer goes back: left to this isolate's collector, which its small heap seldom runs,
// the batches' 4 MiB buffers piled up (recovery agent RSS +60–80 MiB in bench:replication).
const port = parentPort;
port?.on('message', (job: SmallWritesJob) => {
  const done = run(job);
  port.postMessage(done, done.data === undefined ? [] : [done.data]);
});
port?.postMessage({ id: 0 } satisfies SmallWritesDone);
