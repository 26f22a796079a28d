import { z } from 'zod';
import { requireVpgPeer } from '../replication/vpg-peer-guard';
import type { CheckpointInfo, InventoryKind, Unsubscribe } from '../../app/protocol';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { ControlCaller, ControlHandler } from '../peer/control-channel';
import { parsePeer } from '../replication/vpg-control';
import type { StoredVpg } from '../replication/vpg-store';

/**
 * The protected site's part of a planned move and of reverse protection, asked by the
 * recovery site's agent over the peer control channel:
 * - `failover.prepareMove`: the VMs' last writes are sequenced (workloads settled), the VMs are
 *   powered off, a named checkpoint is inserted after everything they wrote, and the VPG is
 *   marked as moved away (its status says so);
 * - `failover.resumeMoved`: a move that failed or was rolled back: VMs back on, mark cleared;
 * - `failover.retireSource`: the move (or a live failover) was committed with reverse
 *   protection: the VPG leaves this site, its disk files stay to seed the reverse VPG.
 */
export const MOVE_PREPARE = 'failover.prepareMove';
export const MOVE_RESUME = 'failover.resumeMoved';
export const SOURCE_RETIRE = 'failover.retireSource';

export const PrepareMoveParamsSchema = z.object({ vpgId: z.string(), name: z.string().max(80) });
export const PrepareMoveResultSchema = z.object({
  seq: z.number().int().positive(),
  sourceTime: z.number().int(),
  poweredOff: z.number().int().nonnegative(),
});
export type PrepareMoveResult = z.infer<typeof PrepareMoveResultSchema>;
const VpgRefSchema = z.object({ vpgId: z.string() });
export const DoneSchema = z.object({ done: z.boolean() });

/** What the protected side needs of the replication engine. */
export interface MoveSourceReplication {
  storedVpg(vpgId: string): StoredVpg | undefined;
  pauseWorkload(vmId: string, paused: boolean): Promise<void>;
  insertCheckpoint(vpgId: string, name: string): CheckpointInfo;
  markMoved(vpgId: string, moved: StoredVpg['movedAway']): Promise<void>;
  retireSource(vpgId: string): Promise<void>;
}

export interface MoveSourceOptions {
  readonly replication: MoveSourceReplication;
  readonly hypervisor: HypervisorAdapter;
  readonly handleControl: (method: string, handler: ControlHandler) => Unsubscribe;
  readonly inventoryChanged: (kinds: InventoryKind[]) => void;
  readonly log: Logger;
}

export class MoveSource {
  private readonly off: Unsubscribe[] = [];

  constructor(private readonly options: MoveSourceOptions) {}

  start(): void {
    const { handleControl } = this.options;
    this.off.push(
      handleControl(MOVE_PREPARE, (p, caller) => this.prepare(p, caller)),
      handleControl(MOVE_RESUME, (p, caller) => this.resume(p, caller)),
      handleControl(SOURCE_RETIRE, (p, caller) => this.retire(p, caller)),
    );
  }

  stop(): void {
    for (const off of this.off.splice(0)) off();
  }

  private async prepare(params: unknown, caller: ControlCaller): Promise<PrepareMoveResult> {
    const { vpgId, name } = parsePeer(PrepareMoveParamsSchema, params, MOVE_PREPARE);
    const vpg = this.ownSource(vpgId, caller);
    const { replication, hypervisor, log } = this.options;
    // Settled first: every write the guest made is sequenced before the checkpoint.
    for (const vmId of vpg.vmIds) await replication.pauseWorkload(vmId, true);
    let poweredOff = 0;
    for (const vmId of vpg.vmIds) {
      await hypervisor.powerOff(vmId);
      poweredOff += 1;
    }
    this.options.inventoryChanged(['vm']);
    const checkpoint = replication.insertCheckpoint(vpgId, name);
    await replication.markMoved(vpgId, { at: Date.now(), checkpointSeq: checkpoint.seq });
    log.info(
      { vpgId, checkpointSeq: checkpoint.seq, poweredOff },
      'move: VMs powered off, move checkpoint inserted',
    );
    return { seq: checkpoint.seq, sourceTime: checkpoint.sourceTime, poweredOff };
  }

  private async resume(params: unknown, caller: ControlCaller): Promise<{ done: boolean }> {
    const { vpgId } = parsePeer(VpgRefSchema, params, MOVE_RESUME);
    const vpg = this.ownSource(vpgId, caller);
    const { replication, hypervisor, log } = this.options;
    for (const vmId of vpg.vmIds) await hypervisor.powerOn(vmId);
    for (const vmId of vpg.vmIds) await replication.pauseWorkload(vmId, false);
    await replication.markMoved(vpgId, undefined);
    this.options.inventoryChanged(['vm']);
    log.info({ vpgId }, 'move undone: VMs powered on again, protection goes on');
    return { done: true };
  }

  private async retire(params: unknown, caller: ControlCaller): Promise<{ done: boolean }> {
    const { vpgId } = parsePeer(VpgRefSchema, params, SOURCE_RETIRE);
    if (this.options.replication.storedVpg(vpgId) === undefined) return { done: true };
    this.ownSource(vpgId, caller);
    await this.options.replication.retireSource(vpgId);
    return { done: true };
  }

  private ownSource(vpgId: string, caller: ControlCaller): StoredVpg {
    return requireVpgPeer(this.options.replication.storedVpg(vpgId), vpgId, 'source', caller);
  }
}
