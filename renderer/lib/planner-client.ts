import type { PlanJob, PlanOutcome, PlanReply } from '../workers/planner-messages';
import type { Outcome } from './errors';

/**
 * One planner worker for the page, started on first use. Only the newest job's answer is
 * delivered: an edit made while a plan runs supersedes it, and the older answer is dropped.
 */
export class PlannerClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private latest = 0;
  private pending = new Map<number, (outcome: Outcome<PlanOutcome> | undefined) => void>();

  /** Resolves undefined when a newer plan was asked for meanwhile. */
  plan(job: Omit<PlanJob, 'id'>): Promise<Outcome<PlanOutcome> | undefined> {
    const id = this.nextId++;
    this.latest = id;
    const worker = this.start();
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      worker.postMessage({ ...job, id } satisfies PlanJob);
    });
  }

  close(): void {
    this.worker?.terminate();
    this.worker = undefined;
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('../workers/planner.worker.ts', import.meta.url), {
      type: 'module',
      name: 'tideline-planner',
    });
    worker.onmessage = (event: MessageEvent<PlanReply>) => {
      const reply = event.data;
      const resolve = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (resolve === undefined) return;
      if (reply.id !== this.latest) resolve(undefined);
      else
        resolve(reply.ok ? { ok: true, value: reply.outcome } : { ok: false, error: reply.error });
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = {
        code: 'INTERNAL_ERROR',
        message: 'The planner stopped unexpectedly; change the draft to plan again.',
      };
      for (const resolve of this.pending.values()) resolve({ ok: false, error });
      this.pending.clear();
      this.worker?.terminate();
      this.worker = undefined;
    };
    this.worker = worker;
    return worker;
  }
}
