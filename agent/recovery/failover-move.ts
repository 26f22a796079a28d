import { TidelineError, isTidelineError } from '../../app/errors';
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

/** Answers that mean the protected site was not reached (try again later). */
const UNREACHED: ReadonlySet<string> = new Set(['TIMEOUT', 'CONNECTION_CLOSED', 'UNAVAILABLE']);

/**
 * A move that did not complete (failed, interrupted by a restart, rolled back; the record has
 * ended): the protected site powers its VMs on again. If it cannot be told now (say, it was
 * killed in the middle of the move), the record keeps `sourceResumePending` and the manager
 * tells it once it is reachable (retryPendingResumes), so its VMs are never left off.
 */
export async function resumeMoved(ctx: FailoverContext, failoverId: string): Promise<void> {
  const record = ctx.store.get(failoverId);
  if (record === undefined || record.mode !== 'move') return;
  const told = await tellResume(ctx, record);
  if (told && record.sourceResumePending === true) {
    const { sourceResumePending: _done, ...rest } = record;
    await ctx.update(rest);
  } else if (!told && record.sourceResumePending !== true) {
    ctx.options.log.warn(
      { vpgId: record.vpgId },
      'the protected site is unreachable: it powers its VMs on again once it is back',
    );
    await ctx.update({ ...record, sourceResumePending: true });
  }
}

/**
 * The ended moves whose protected site still has to power its VMs on: each one that is the
 * latest failover of its VPG is told again (an older one was superseded by a newer failover,
 * which decides for the VMs now, and is dropped).
 */
export async function retryPendingResumes(ctx: FailoverContext): Promise<void> {
  const records = ctx.store.list();
  const latest = new Map<string, string>();
  for (const record of records) latest.set(record.vpgId, record.failoverId);
  for (const record of records) {
    if (record.sourceResumePending !== true) continue;
    if (latest.get(record.vpgId) !== record.failoverId) {
      const { sourceResumePending: _superseded, ...rest } = record;
      await ctx.update(rest);
    } else if (ctx.connectedPeer(record) !== undefined) {
      await resumeMoved(ctx, record.failoverId);
    }
  }
}

/** True once the protected site answered (done, or refused for good: retrying cannot help). */
async function tellResume(ctx: FailoverContext, record: FailoverRecord): Promise<boolean> {
  const link = ctx.connectedPeer(record);
  if (link === undefined) return false;
  try {
    await callPeer(link, MOVE_RESUME, { vpgId: record.vpgId }, DoneSchema, SHUTDOWN_TIMEOUT_MS);
    ctx.options.log.info({ vpgId: record.vpgId }, 'the protected site powered its VMs on again');
    return true;
  } catch (err) {
    if (isTidelineError(err) && UNREACHED.has(err.code)) return false;
    ctx.options.log.warn(
      { vpgId: record.vpgId, err: messageOf(err) },
      'the protected site did not power its VMs on again',
    );
    return true;
  }
}
