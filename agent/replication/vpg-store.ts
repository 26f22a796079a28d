import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { IdSchema, VpgDiskSchema, VpgRoleSchema, VpgSchema } from '../../app/protocol';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

/** A disk that left the VPG; the target keeps it in the journal until `untilSeq` is in. */
export const RetiredDiskSchema = VpgDiskSchema.extend({ untilSeq: z.number().int().nonnegative() });
export type RetiredDisk = z.infer<typeof RetiredDiskSchema>;

/** A VPG as this agent keeps it: the protocol's Vpg, which side this agent is, and its peer. */
export const StoredVpgSchema = VpgSchema.extend({
  role: VpgRoleSchema,
  /** The paired agent at the other site (the target's agent on the source, and vice versa). */
  peerAgentId: IdSchema,
  /** Source: initial sync is still to do (it restarts from the beginning after a restart). */
  seeding: z.boolean().optional(),
  /** Disks removed by vpg.removeVm whose records up to `untilSeq` may still reach the journal. */
  retiredDisks: z.array(RetiredDiskSchema).optional(),
  /**
   * Source: the version vpg.forceUpdate made while the recovery site was unreachable; cleared
   * once it took it (vpg.prepare when the link is back).
   */
  targetPending: z.number().int().positive().optional(),
  /** Source: moved to the recovery site (failover.move): its VMs are off here (move-source.ts). */
  movedAway: z.object({ at: z.number().int(), checkpointSeq: z.number().int() }).optional(),
  /** Source: reverse protection of a committed failover (its initial sync activates it). */
  reverseOf: z.object({ vpgId: IdSchema, failoverId: IdSchema }).optional(),
  /**
   * Target: where its replica disks are, chosen once at vpg.prepare (a libvirt storage pool's
   * directory, so recovered VMs can run on them); absent: `<dataDir>/datastores/<ds>/replicas`.
   */
  replicaDir: z.string().min(1).max(4096).optional(),
});
export type StoredVpg = z.infer<typeof StoredVpgSchema>;

/** A VPG removed here whose other side has not yet been told to delete its part. */
export const PendingRemovalSchema = z.strictObject({
  vpgId: IdSchema,
  peerAgentId: IdSchema,
  removedAt: z.number().int(),
});
export type PendingRemoval = z.infer<typeof PendingRemovalSchema>;

export const VpgsFileSchema = z.strictObject({
  version: z.literal(1),
  vpgs: z.array(StoredVpgSchema),
  pendingRemovals: z.array(PendingRemovalSchema),
});
type VpgsFile = z.infer<typeof VpgsFileSchema>;

/**
 * The VPGs of this agent, in state/vpgs.json (written atomically). Mutations are serialized,
 * and a change is visible only once it is durably on disk. A missing file means no VPG yet.
 */
export class VpgStore {
  private state: VpgsFile | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  async load(): Promise<void> {
    try {
      this.state = await readJsonFile(this.file, VpgsFileSchema, 'VPG list');
    } catch (err) {
      if (err instanceof TidelineError && err.code === 'NOT_FOUND') {
        this.state = { version: 1, vpgs: [], pendingRemovals: [] };
      } else {
        throw err;
      }
    }
  }

  list(): StoredVpg[] {
    return this.current().vpgs.map((v) => structuredClone(v));
  }

  get(vpgId: string): StoredVpg | undefined {
    const vpg = this.current().vpgs.find((v) => v.vpgId === vpgId);
    return vpg === undefined ? undefined : structuredClone(vpg);
  }

  pendingRemovals(): PendingRemoval[] {
    return this.current().pendingRemovals.map((r) => ({ ...r }));
  }

  /** Adds a VPG; ALREADY_EXISTS if its id is taken. */
  add(vpg: StoredVpg): Promise<void> {
    return this.mutate((state) => {
      if (state.vpgs.some((v) => v.vpgId === vpg.vpgId)) {
        throw new TidelineError('ALREADY_EXISTS', `VPG ${vpg.vpgId} already exists on this agent`);
      }
      return { ...state, vpgs: [...state.vpgs, structuredClone(vpg)] };
    });
  }

  /** Changes a stored VPG; false if it is gone. */
  async update(vpgId: string, change: (vpg: StoredVpg) => StoredVpg): Promise<boolean> {
    let found = false;
    await this.mutate((state) => ({
      ...state,
      vpgs: state.vpgs.map((v) => {
        if (v.vpgId !== vpgId) return v;
        found = true;
        return change(structuredClone(v));
      }),
    }));
    return found;
  }

  /** Removes a VPG and, in the same write, records that its peer still has to be told. */
  async remove(vpgId: string, pending?: PendingRemoval): Promise<void> {
    await this.mutate((state) => ({
      ...state,
      vpgs: state.vpgs.filter((v) => v.vpgId !== vpgId),
      pendingRemovals: [
        ...state.pendingRemovals.filter((r) => r.vpgId !== vpgId),
        ...(pending === undefined ? [] : [pending]),
      ],
    }));
  }

  async clearPendingRemoval(vpgId: string): Promise<void> {
    await this.mutate((state) => ({
      ...state,
      pendingRemovals: state.pendingRemovals.filter((r) => r.vpgId !== vpgId),
    }));
  }

  private current(): VpgsFile {
    if (this.state === undefined) throw new Error('VPG store used before load()');
    return this.state;
  }

  private mutate(change: (state: VpgsFile) => VpgsFile): Promise<void> {
    const run = this.queue.then(async () => {
      const next = change(this.current());
      await writeJsonAtomic(this.file, next, { mode: 0o600 });
      this.state = next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
