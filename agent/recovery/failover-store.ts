import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import {
  CheckpointTestSchema,
  FailoverStatusSchema,
  isFailoverActive,
  type CheckpointTest,
  type FailoverStatus,
  VmSchema,
} from '../../app/protocol';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

/** A failover as the agent keeps it: its status and the recovery disks it opened. */
export const FailoverRecordSchema = FailoverStatusSchema.extend({
  disks: z.array(
    z.object({ sourceDiskId: z.string(), diskId: z.string(), sizeBytes: z.number().int() }),
  ),
  /** The protected site's agent (to shut its VMs down when it is reachable). */
  peerAgentId: z.string().optional(),
  /** A move whose checkpoint is not inserted yet: the stream must go on until it is in. */
  moveCheckpointPending: z.boolean().optional(),
  /**
   * A move that ended without completing whose protected site could not be told to power its
   * VMs on again yet (unreachable): told as soon as it is back.
   */
  sourceResumePending: z.boolean().optional(),
  /** Commit with reverse protection: the VPG protecting the recovered VMs back. */
  reverseVpgId: z.string().optional(),
  /**
   * Commit's switch to the replica files: the recovered VMs as they were before it
   * unregistered any, so a restart between a VM's unregistering and its registering on the
   * replica files registers it then (failover-commit.ts).
   */
  switching: z.array(VmSchema).optional(),
});
export type FailoverRecord = z.infer<typeof FailoverRecordSchema>;

const FailoversFileSchema = z.strictObject({
  version: z.literal(1),
  /** Oldest first. */
  failovers: z.array(FailoverRecordSchema),
  /** vpgId → the test results recorded on its checkpoints. */
  checkpointTests: z.record(
    z.string(),
    z.array(CheckpointTestSchema.extend({ seq: z.number().int().positive() })),
  ),
});
type FailoversFile = z.infer<typeof FailoversFileSchema>;

export const isEnded = (f: Pick<FailoverStatus, 'phase'>): boolean => !isFailoverActive(f.phase);

const ENDED_KEPT = 50;
/** Test results kept per VPG (the newest). */
const TESTS_KEPT = 200;

/**
 * The failovers of this agent and the test results of checkpoints, in state/failovers.json
 * (written atomically, one change at a time): a restart finds every failover where it was.
 */
export class FailoverStore {
  private state: FailoversFile = { version: 1, failovers: [], checkpointTests: {} };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  async load(): Promise<void> {
    try {
      this.state = await readJsonFile(this.file, FailoversFileSchema, 'failover list');
    } catch (err) {
      if (!(err instanceof TidelineError && err.code === 'NOT_FOUND')) throw err;
    }
  }

  list(): FailoverRecord[] {
    return this.state.failovers.map((f) => structuredClone(f));
  }

  get(failoverId: string): FailoverRecord | undefined {
    const found = this.state.failovers.find((f) => f.failoverId === failoverId);
    return found === undefined ? undefined : structuredClone(found);
  }

  /** The VPG's failover that has not ended, if any. */
  active(vpgId: string): FailoverRecord | undefined {
    const found = this.state.failovers.find((f) => f.vpgId === vpgId && !isEnded(f));
    return found === undefined ? undefined : structuredClone(found);
  }

  /** Adds or replaces a failover; resolves once it is on disk. */
  put(record: FailoverRecord): Promise<void> {
    return this.change((state) => {
      const at = state.failovers.findIndex((f) => f.failoverId === record.failoverId);
      if (at >= 0) state.failovers[at] = structuredClone(record);
      else state.failovers.push(structuredClone(record));
      let excess = state.failovers.filter(isEnded).length - ENDED_KEPT;
      state.failovers = state.failovers.filter((f) => !(isEnded(f) && excess-- > 0));
    });
  }

  /**
   * Forgets the `count` oldest ended test failovers of the VPG (by start); resolves with their
   * ids, oldest first, and how many ended tests are kept, once on disk.
   */
  async discardTests(vpgId: string, count: number): Promise<{ discarded: string[]; kept: number }> {
    const isTest = (f: FailoverRecord): boolean =>
      f.vpgId === vpgId && f.mode === 'test' && isEnded(f);
    const tests = this.state.failovers.filter(isTest).sort((a, b) => a.startedAt - b.startedAt);
    const discarded = tests.slice(0, count).map((f) => f.failoverId);
    if (discarded.length > 0) {
      const gone = new Set(discarded);
      await this.change((state) => {
        state.failovers = state.failovers.filter((f) => !gone.has(f.failoverId));
      });
    }
    return { discarded, kept: tests.length - discarded.length };
  }

  tests(vpgId: string): ReadonlyMap<number, CheckpointTest> {
    const map = new Map<number, CheckpointTest>();
    for (const { seq, ...test } of this.state.checkpointTests[vpgId] ?? []) map.set(seq, test);
    return map;
  }

  recordTest(vpgId: string, seq: number, test: CheckpointTest): Promise<void> {
    return this.change((state) => {
      const kept = (state.checkpointTests[vpgId] ?? []).filter((t) => t.seq !== seq);
      state.checkpointTests[vpgId] = [...kept, { seq, ...test }].slice(-TESTS_KEPT);
    });
  }

  private change(apply: (state: FailoversFile) => void): Promise<void> {
    const run = async (): Promise<void> => {
      const next = structuredClone(this.state);
      apply(next);
      await writeJsonAtomic(this.file, next);
      this.state = next;
    };
    const done = this.queue.then(run, run);
    this.queue = done.catch(() => undefined);
    return done;
  }
}
