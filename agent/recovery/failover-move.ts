import { TidelineError } from '../../app/errors';
import type { TaskHandle } from '../tasks/task-manager';
import { callPeer } from '../replication/vpg-control';
import { messageOf, type FailoverContext } from './failover-context';
import { chooseCheckpoint } from './failover-plan';
import { SHUTDOWN_TIMEOUT_MS } from './failover-shutdown';
import { STEPS } from './failover-steps';
import type { FailoverRecord } from './failover-store';
import { DoneSchema, MOVE_PREPARE, MOVE_RESUME, PrepareMoveResultSchema } from './move-source';

/** A guest shutdown may take a while; the recovery site waits for it. */
const MOVE_PREPARE_TIMEOUT_MS = 5 * 60_000;
/** "Send the rest": the backlog left when the VMs went off reaches this site. */
const MOVE_CHECKPOINT_TIMEOUT_MS = 30 * 60_000;

/**
 * Planned move: the protected site must be reachable (it shuts its VMs down and inserts the
 * checkpoint after their last writes); checked before the move's task starts.
 */
export function checkMovable(ctx: FailoverContext, vpgId: string): void {
  const target = ctx.options.replication.recoveryTarget(vpgId);
  if (target === undefined) throw ctx.notReceived(vpgId);
  const link = ctx.options.peers.link(target.vpg.peerAgentId);
  if (link?.state !== 'connected') {
    throw new TidelineError(
      'UNAVAILABLE',
      `The protected site of VPG "${target.vpg.name}" is unreachable: a move needs it to shut its VMs down and send their last writes. If that site is lost, run a live failover (failover.live) instead.`,
      { vpgId },
    );
  }
}

/**
 * A move's first steps: the protected site powers its VMs off once their last writes are
 * sequenced and inserts a checkpoint after them; this site waits until that checkpoint (and
 * so everything before it) is persisted in the journal, and recovers at exactly it.
 */
export async function moveCheckpoint(
  ctx: FailoverContext,
  task: TaskHandle,
  record: FailoverRecord,
): Promise<FailoverRecord> {
  task.step(STEPS.shutdown);
  const link = ctx.connectedPeer(record);
  if (link === undefined) {
    throw new TidelineError(
      'UNAVAILABLE',
      `The protected site of VPG "${record.vpgName}" became unreachable before its VMs were shut down: nothing was changed; run the move again, or a live failover if that site is lost`,
    );
  }
  const name = `Move ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`;
  const prepared = await callPeer(
    link,
    MOVE_PREPARE,
    { vpgId: record.vpgId, name },
    PrepareMoveResultSchema,
    MOVE_PREPARE_TIMEOUT_MS,
  );
  ctx.options.log.info(
    { vpgId: record.vpgId, checkpointSeq: prepared.seq, poweredOff: prepared.poweredOff },
    'move: the protected VMs are off; waiting for the move checkpoint',
  );
  task.step(STEPS.moveCheckpoint);
  const target = ctx.options.replication.recoveryTarget(record.vpgId);
  if (target === undefined) throw ctx.notReceived(record.vpgId);
  await target.waitFor(prepared.seq, MOVE_CHECKPOINT_TIMEOUT_MS);
  const checkpoint = chooseCheckpoint(
    target.checkpoints(),
    { kind: 'seq', seq: prepared.seq },
    record.vpgName,
  );
  const { moveCheckpointPending: _p, ...rest } = record;
  return {
    ...rest,
    checkpoint: {
      seq: checkpoint.seq,
      sourceTime: checkpoint.sourceTime,
      ...(checkpoint.name !== undefined && { name: checkpoint.name }),
    },
  };
}

/** A move that did not complete: the protected site powers its VMs on again (best effort). */
export async function resumeMoved(ctx: FailoverContext, record: FailoverRecord): Promise<void> {
  if (record.mode !== 'move') return;
  const link = ctx.connectedPeer(record);
  if (link === undefined) {
    ctx.options.log.warn(
      { vpgId: record.vpgId },
      'the protected site is unreachable: power its VMs on there yourself',
    );
    return;
  }
  try {
    await callPeer(link, MOVE_RESUME, { vpgId: record.vpgId }, DoneSchema, SHUTDOWN_TIMEOUT_MS);
  } catch (err) {
    ctx.options.log.warn(
      { vpgId: record.vpgId, err: messageOf(err) },
      'the protected site did not power its VMs on again',
    );
  }
}
