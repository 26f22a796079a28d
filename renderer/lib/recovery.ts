import type { EstateSnapshot, ProtectionTask, VpgView } from '../../app/protocol/console-api';
import type { ConsoleFailover, FailoverStartParams } from '../../app/protocol/console-recovery-api';
import {
  isFailoverActive,
  type CheckpointChoice,
  type CommitPolicy,
  type FailoverMode,
  type FailoverPhase,
  type IpSettings,
} from '../../app/recovery/recovery-schemas';
import { DAY_MS } from '../../app/policy/wall-clock';
import type { PowerState } from '../../app/protocol/inventory';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import type { ChipColor } from './protection';

/** The pure part of the Recovery page: what is offered, what the timeline marks, how a task reads. */

// ───────────────────────────── reachability and modes ─────────────────────────────

/** The keys of the connected agents, sorted, as one string to compare (has the set changed?). */
export function connectedAgentKeys(snapshot: EstateSnapshot): string {
  return snapshot.agents
    .filter((a) => a.state === 'connected')
    .map((a) => a.key)
    .sort()
    .join('\n');
}

/** Whether a site has an agent the console is connected to now. */
export function siteConnected(snapshot: EstateSnapshot, siteId: string): boolean {
  const site = snapshot.sites.find((s) => s.siteId === siteId);
  if (site === undefined) return false;
  return snapshot.agents.some((a) => site.agentKeys.includes(a.key) && a.state === 'connected');
}

/** No connected agent of the VPG's protected site: only the recovery site's agents can act. */
export function protectedSiteUnreachable(snapshot: EstateSnapshot, vpg: VpgView): boolean {
  return vpg.protectedSiteOffline || !siteConnected(snapshot, vpg.protectedSiteId);
}

export interface ModeOffer {
  readonly mode: FailoverMode;
  /** Why it cannot be chosen now, or undefined when it can. */
  readonly blocker: string | undefined;
}

export const MODE_TEXT: Readonly<
  Record<FailoverMode, { label: string; verb: string; description: string }>
> = {
  test: {
    label: 'Test failover',
    verb: 'Start test',
    description:
      'Bring the VMs up on isolated test networks from a copy-on-write view. Protection goes on; stop the test when done.',
  },
  live: {
    label: 'Live failover',
    verb: 'Start failover',
    description:
      'Bring the VMs up at the recovery site for real, at the checkpoint you choose. Works while the protected site is down.',
  },
  move: {
    label: 'Move (planned)',
    verb: 'Start move',
    description:
      'Shut the protected VMs down, send the last writes, and recover at a new checkpoint: no data lost. Needs the protected site.',
  },
};

/** Phases during which a failover holds the VPG (a new one is refused). */
export function isActivePhase(phase: FailoverPhase): boolean {
  return isFailoverActive(phase);
}

/**
 * Which modes the wizard offers for a VPG: none while a failover of it is under way or no agent
 * of its recovery site is connected; with the protected site unreachable test and live only
 * (a move needs the protected VMs).
 */
export function offeredModes(
  snapshot: EstateSnapshot,
  vpg: VpgView,
  active: ConsoleFailover | undefined,
): ModeOffer[] {
  const all: FailoverMode[] = ['test', 'live', 'move'];
  const busy =
    active !== undefined
      ? `A ${MODE_TEXT[active.mode].label.toLowerCase()} of this VPG is under way (${PHASE[active.phase].label}).`
      : undefined;
  const recoveryDown = siteConnected(snapshot, vpg.recoverySiteId)
    ? undefined
    : `No agent of the recovery site ${siteLabel(snapshot, vpg.recoverySiteId)} is connected: failovers run there.`;
  const unreachable = protectedSiteUnreachable(snapshot, vpg);
  return all.map((mode) => {
    const blocker =
      busy ??
      recoveryDown ??
      (mode === 'move' && unreachable
        ? `The protected site ${siteLabel(snapshot, vpg.protectedSiteId)} is unreachable: a move needs it to shut its VMs down.`
        : undefined);
    return { mode, blocker };
  });
}

function siteLabel(snapshot: EstateSnapshot, siteId: string): string {
  return snapshot.sites.find((s) => s.siteId === siteId)?.name ?? siteId;
}

// ───────────────────────────── the checkpoint timeline ─────────────────────────────

export interface TimelineMark {
  readonly checkpoint: CheckpointInfo;
  /** 0 (oldest offered) … 1 (newest), by source time. */
  readonly position: number;
  readonly named: boolean;
  readonly tested: boolean;
}

/** Checkpoints a failover can use: persisted at the recovery site and consistent. */
export function offeredCheckpoints(checkpoints: readonly CheckpointInfo[]): CheckpointInfo[] {
  return checkpoints
    .filter((c) => c.confirmed && c.inconsistent !== true)
    .sort((a, b) => a.seq - b.seq);
}

/** The journal as a line: each offered checkpoint at its place in time, named and tested marked. */
export function timelineMarks(checkpoints: readonly CheckpointInfo[]): TimelineMark[] {
  const offered = offeredCheckpoints(checkpoints);
  const first = offered[0]?.sourceTime ?? 0;
  const last = offered[offered.length - 1]?.sourceTime ?? 0;
  const span = last - first;
  return offered.map((checkpoint) => ({
    checkpoint,
    position: span > 0 ? (checkpoint.sourceTime - first) / span : 1,
    named: checkpoint.name !== undefined,
    tested: checkpoint.tested !== undefined,
  }));
}

/**
 * Fewer automatic marks where they would crowd (a mark per few seconds over hours): every
 * named, tested or `keepSeq` mark stays, an automatic one only `minGap` from the last kept.
 */
export function thinMarks(
  marks: readonly TimelineMark[],
  minGap: number,
  keepSeq?: number,
): TimelineMark[] {
  const out: TimelineMark[] = [];
  let lastAuto = -Infinity;
  for (const [i, m] of marks.entries()) {
    const keep = m.named || m.tested || m.checkpoint.seq === keepSeq || i === marks.length - 1;
    if (keep || m.position - lastAuto >= minGap) {
      out.push(m);
      if (!m.named && !m.tested) lastAuto = m.position;
    }
  }
  return out;
}

/** The checkpoint a choice resolves to now (the agent resolves it again at start). */
export function resolveChoice(
  choice: CheckpointChoice,
  checkpoints: readonly CheckpointInfo[],
): CheckpointInfo | undefined {
  const offered = offeredCheckpoints(checkpoints);
  switch (choice.kind) {
    case 'latest':
      return offered[offered.length - 1];
    case 'latestNamed':
      return offered.filter((c) => c.name !== undefined).pop();
    case 'seq':
      return offered.find((c) => c.seq === choice.seq);
  }
}

/** "Tested 3 May, 14:02 · passed". */
export function testedText(checkpoint: CheckpointInfo): string | undefined {
  const t = checkpoint.tested;
  if (t === undefined) return undefined;
  const at = new Date(t.at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return `Tested ${at} · ${t.result === 'Passed' ? 'passed' : 'failed'}`;
}

// ───────────────────────────── the wizard's form ─────────────────────────────

export type CommitPolicyKind = CommitPolicy['kind'];

export interface FailoverForm {
  readonly vpgId: string | undefined;
  readonly mode: FailoverMode;
  readonly checkpoint: CheckpointChoice;
  readonly commitPolicy: CommitPolicyKind;
  /** Minutes before the commit policy acts (autoCommit, autoRollback). */
  readonly commitMinutes: string;
  readonly shutdownProtectedVms: boolean;
  readonly reverseProtection: boolean;
  /** A test of only these VMs of the VPG (undefined: all of them). */
  readonly testVmIds: readonly string[] | undefined;
}

export const EMPTY_FAILOVER_FORM: FailoverForm = {
  vpgId: undefined,
  mode: 'test',
  checkpoint: { kind: 'latest' },
  commitPolicy: 'none',
  commitMinutes: '30',
  shutdownProtectedVms: false,
  reverseProtection: false,
  testVmIds: undefined,
};

export const FAILOVER_STEPS = ['VPG', 'Mode', 'Checkpoint', 'Options', 'Summary'] as const;

/** The commit policy as the agent takes it, or an error for the admin. */
export function commitPolicyOf(form: FailoverForm): CommitPolicy | string {
  if (form.commitPolicy === 'none') return { kind: 'none' };
  const minutes = Number(form.commitMinutes.trim());
  if (form.commitMinutes.trim() === '' || !Number.isInteger(minutes) || minutes < 1) {
    return 'Give the minutes as a whole number, at least 1.';
  }
  if (minutes > 7 * 24 * 60) return 'At most 7 days (10080 minutes).';
  return { kind: form.commitPolicy, afterSeconds: minutes * 60 };
}

/** What is wrong on a step, or undefined when the wizard may go on. */
export function failoverStepError(
  step: number,
  form: FailoverForm,
  offers: readonly ModeOffer[],
  checkpoints: readonly CheckpointInfo[],
): string | undefined {
  if (step === 0 && form.vpgId === undefined) return 'Choose a VPG.';
  if (step === 1) {
    const offer = offers.find((o) => o.mode === form.mode);
    if (offer?.blocker !== undefined) return offer.blocker;
  }
  if (
    step === 2 &&
    form.mode !== 'move' &&
    resolveChoice(form.checkpoint, checkpoints) === undefined
  ) {
    return form.checkpoint.kind === 'latestNamed'
      ? 'No named checkpoint is available: choose the latest or a specific one.'
      : 'No checkpoint is available at the recovery site yet.';
  }
  if (step === 3 && form.mode === 'test' && form.testVmIds?.length === 0) {
    return 'Choose at least one VM to test.';
  }
  if (step === 3 && form.mode !== 'test') {
    const policy = commitPolicyOf(form);
    if (typeof policy === 'string') return policy;
  }
  return undefined;
}

/** failovers.start's params for the form (siteId: the VPG's recovery site). */
export function startParams(form: FailoverForm, vpg: VpgView): FailoverStartParams {
  const siteId = vpg.recoverySiteId;
  const vpgId = vpg.vpgId;
  const policy = commitPolicyOf(form);
  const commitPolicy: CommitPolicy = typeof policy === 'string' ? { kind: 'none' } : policy;
  switch (form.mode) {
    case 'test':
      return {
        mode: 'test',
        siteId,
        vpgId,
        checkpoint: form.checkpoint,
        ...(form.testVmIds !== undefined && { vmIds: [...form.testVmIds] }),
      };
    case 'live':
      return {
        mode: 'live',
        siteId,
        vpgId,
        checkpoint: form.checkpoint,
        commitPolicy,
        shutdownProtectedVms: form.shutdownProtectedVms,
        reverseProtection: form.reverseProtection,
      };
    case 'move':
      return {
        mode: 'move',
        siteId,
        vpgId,
        commitPolicy,
        reverseProtection: form.reverseProtection,
      };
  }
}

/** "Auto-commit after 30 min". */
export function commitPolicyText(policy: CommitPolicy): string {
  if (policy.kind === 'none') return 'Wait for commit or roll back';
  const minutes = Math.round(policy.afterSeconds / 60);
  return `${policy.kind === 'autoCommit' ? 'Auto-commit' : 'Auto-rollback'} after ${minutes} min`;
}

// ───────────────────────────── following a failover ─────────────────────────────

export const PHASE: Readonly<Record<FailoverPhase, { label: string; color: ChipColor }>> = {
  Running: { label: 'Bringing VMs up', color: 'info' },
  BeforeCommit: { label: 'Waiting for commit', color: 'warning' },
  Testing: { label: 'Test running', color: 'secondary' },
  Committing: { label: 'Committing', color: 'info' },
  Promoting: { label: 'Promoting', color: 'info' },
  RollingBack: { label: 'Rolling back', color: 'warning' },
  Stopping: { label: 'Stopping test', color: 'warning' },
  Committed: { label: 'Committed', color: 'success' },
  RolledBack: { label: 'Rolled back', color: 'default' },
  Stopped: { label: 'Test stopped', color: 'default' },
  Failed: { label: 'Failed', color: 'error' },
};

/** What the admin may do now with a failover. */
export function failoverActions(f: ConsoleFailover): {
  commit: boolean;
  rollback: boolean;
  stopTest: boolean;
} {
  return {
    commit: f.phase === 'BeforeCommit',
    // Once promotion wrote into the replicas, only committing again is safe (the agent refuses).
    rollback: f.phase === 'BeforeCommit' && f.promotionStarted !== true,
    stopTest: f.phase === 'Testing',
  };
}

/** The newest failover of each VPG. */
export function latestByVpg(
  failovers: readonly ConsoleFailover[],
): Readonly<Record<string, ConsoleFailover>> {
  const out: Record<string, ConsoleFailover> = {};
  for (const f of failovers) {
    const known = out[f.vpgId];
    if (known === undefined || known.startedAt < f.startedAt) out[f.vpgId] = f;
  }
  return out;
}

/** The failover under way for a VPG, if any. */
export function activeFailover(
  failovers: readonly ConsoleFailover[],
  vpgId: string,
): ConsoleFailover | undefined {
  return failovers.find((f) => f.vpgId === vpgId && isActivePhase(f.phase));
}

export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepRow {
  readonly name: string;
  /** 0–100 for the progress bar. */
  readonly percent: number;
  readonly state: StepState;
}

/** A task's steps as the live view draws them: one bar each, done ones full. */
export function stepRows(task: ProtectionTask | undefined): StepRow[] {
  if (task === undefined) return [];
  const failed = task.status === 'Completed' && task.completionCode !== 'Success';
  return task.steps.map((step) => {
    const state = step.status.toLowerCase() as StepState;
    const percent =
      state === 'done' ? 100 : state === 'pending' ? 0 : Math.round(step.progress * 100);
    // A step still Running when its task failed is where it stopped.
    return { name: step.name, percent, state: failed && state === 'running' ? 'failed' : state };
  });
}

/** A task's progress in percent: its own figure, or the steps' mean when that is further on. */
export function taskPercent(task: ProtectionTask): number {
  if (task.status === 'Completed' && task.completionCode === 'Success') return 100;
  const rows = stepRows(task);
  const mean = rows.length === 0 ? 0 : rows.reduce((sum, r) => sum + r.percent, 0) / rows.length;
  return Math.floor(Math.max(task.progress * 100, mean));
}

export interface VmRow {
  readonly key: string;
  readonly name: string;
  readonly bootGroup: number;
  readonly poweredOnAt: number | undefined;
  /** Seconds after the failover started. */
  readonly afterSeconds: number | undefined;
  readonly networks: string;
}

/** The recovered VMs in boot order: by group, then by the time each came up. */
export function vmRows(f: ConsoleFailover): VmRow[] {
  return [...f.vms]
    .sort(
      (a, b) =>
        a.bootGroup - b.bootGroup ||
        (a.poweredOnAt ?? Infinity) - (b.poweredOnAt ?? Infinity) ||
        a.name.localeCompare(b.name),
    )
    .map((vm) => ({
      key: vm.sourceVmId,
      name: vm.name,
      bootGroup: vm.bootGroup,
      poweredOnAt: vm.poweredOnAt,
      afterSeconds:
        vm.poweredOnAt === undefined
          ? undefined
          : Math.max(0, Math.round((vm.poweredOnAt - f.startedAt) / 1000)),
      networks: [...new Set(vm.nics.map(nicLanding))].join(', ') || '—',
    }));
}

/** Where a recovered NIC landed: its network, and the address it was given unless kept. */
function nicLanding(nic: { network: string; ip: IpSettings }): string {
  if (nic.ip.mode === 'keep') return nic.network;
  if (nic.ip.mode === 'dhcp') return `${nic.network} (DHCP)`;
  return `${nic.network} (${nic.ip.address}/${nic.ip.prefixLength})`;
}

/**
 * What a recovered VM is now: from the recovery site's inventory while registered there, else
 * from the failover (waiting for its boot group, or removed once the failover ended).
 */
export function vmNowLabel(
  row: Pick<VmRow, 'poweredOnAt'>,
  registeredPower: PowerState | undefined,
  ended: boolean,
): string {
  if (registeredPower === 'running') return 'Running';
  if (registeredPower !== undefined) return ended ? 'Off' : 'Registered';
  if (ended) return 'Removed';
  return row.poweredOnAt !== undefined ? 'Running' : 'Waiting';
}

/** The failover's checkpoint, as the admin knows it. */
export function checkpointLabel(f: Pick<ConsoleFailover, 'checkpoint'>): string {
  const at = new Date(f.checkpoint.sourceTime).toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'medium',
  });
  return f.checkpoint.name === undefined ? at : `${f.checkpoint.name} · ${at}`;
}

/** The failover the live view shows, or undefined while the one a task starts is not reported yet. */
export function viewedFailover(
  failovers: readonly ConsoleFailover[],
  viewed: { vpgId: string; failoverId?: string; taskId?: string },
): ConsoleFailover | undefined {
  if (viewed.failoverId !== undefined)
    return failovers.find((f) => f.failoverId === viewed.failoverId);
  if (viewed.taskId !== undefined) return failovers.find((f) => f.taskId === viewed.taskId);
  return latestByVpg(failovers)[viewed.vpgId];
}

/** The tasks of a failover, in order: the one that brought the VMs up, then stop/commit/rollback. */
export function failoverTasks(
  f: ConsoleFailover,
  tasks: Readonly<Record<string, ProtectionTask>>,
): ProtectionTask[] {
  return Object.values(tasks)
    .filter(
      (t) =>
        t.taskId === f.taskId ||
        (t.vpgId === f.vpgId &&
          t.startedAt >= f.startedAt &&
          (f.endedAt === undefined || t.startedAt <= f.endedAt) &&
          FOLLOW_UP_TASKS.has(t.type)),
    )
    .sort((a, b) => a.startedAt - b.startedAt);
}

const FOLLOW_UP_TASKS: ReadonlySet<ProtectionTask['type']> = new Set([
  'StopFailoverTest',
  'FailoverCommit',
  'FailoverRollback',
  'Promote',
]);

/** A VPG is due a test failover when none was stopped in this long. */
export const TEST_REMINDER_DAYS = 30;

/** When a VPG was last tested, and whether a test is overdue (never, or over 30 days ago). */
export function testReminder(
  vpg: Pick<VpgView, 'lastTestedAt' | 'createdAt'>,
  now: number,
): { readonly label: string; readonly overdue: boolean } {
  const last = vpg.lastTestedAt;
  if (last === undefined) {
    const overdue = now - vpg.createdAt > TEST_REMINDER_DAYS * DAY_MS;
    return {
      label: overdue ? `Not tested in ${TEST_REMINDER_DAYS} days` : 'Not tested yet',
      overdue,
    };
  }
  const days = Math.floor((now - last) / DAY_MS);
  const ago = days === 0 ? 'today' : days === 1 ? 'yesterday' : `${days} days ago`;
  return {
    label: days > TEST_REMINDER_DAYS ? `Not tested for ${days} days` : `Tested ${ago}`,
    overdue: days > TEST_REMINDER_DAYS,
  };
}
