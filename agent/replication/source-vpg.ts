import { rm } from 'node:fs/promises';
import { TidelineError, isTidelineError } from '../../app/errors';
import {
  currentRpoSeconds,
  rpoMet,
  type CheckpointInfo,
  type RpoTick,
  type VpgState,
  type VpgStatus,
} from '../../app/protocol';
import type { Logger } from '../log';
import type { PeerLink } from '../peer/peer-link';
import type { RecordThrottle } from '../policy/policy-scheduler';
import { VpgSource, outboxDir, type VpgSourceStatus } from '../source/vpg-source';
import type { DiskAccess, DiskFile } from '../tap/disk-file';
import type { DiskTap } from '../tap/disk-tap';
import { drop } from '../util/drop';
import { CheckpointLog } from './checkpoint-log';
import { RateMeter } from './rate-meter';
import { VpgSender } from './sender';
import { SyncRunner } from './sync-runner';
import type { TaskManager } from '../tasks/task-manager';
import type { MirrorTarget, TapMirroring } from '../hypervisor/adapter';
import { linkHashes } from './hash-control';
import { MirrorAttachments } from './mirror-attachments';
import { OutboxSpaceWatch } from './outbox-space';
import { prepareParams, publicVpg } from './vpg-view';
import type { StoredVpg } from './vpg-store';
import {
  CheckpointsResultSchema,
  PrepareResultSchema,
  UsageResultSchema,
  VPG_CHECKPOINTS,
  VPG_PREPARE,
  VPG_USAGE,
  callPeer,
  type TargetUsage,
} from './vpg-control';

export interface SourceVpgOptions {
  readonly dataDir: string;
  readonly tap: DiskTap;
  /** Each disk's file (from the hypervisor's inventory). */
  readonly diskPaths: ReadonlyMap<string, string>;
  readonly outboxLimitBytes: number;
  readonly log: Logger;
  /** The status (or its message) may have changed. */
  readonly onChange: () => void;
  /** The recovery site took the VPG's settings at this version (vpg.prepare answered). */
  readonly onTargetConfigured?: (version: number) => void;
  /** Initial sync finished: persist it. */
  readonly onSeeded: () => Promise<void>;
  /** The outbox's disk filled up (a message) or has room again (undefined): for an alert. */
  readonly onDiskFull?: (vpg: StoredVpg, message: string | undefined, time: number) => void;
  /** How often journal use is asked of the target (default 5 s). */
  readonly usageIntervalMs?: number;
  /** Initial syncs and resyncs are shown as tasks. */
  readonly tasks?: TaskManager;
  /** Bandwidth limits of the policies in force (agent/policy); absent: unlimited. */
  readonly throttle?: RecordThrottle;
  /** The RPO target in force at `now` (agent/policy), given the VPG's own. */
  readonly rpoTargetAt?: (now: number, own: number) => number;
  /**
   * The hypervisor mirrors its VMs' writes into the tap (libvirt): the disks are the VMs' own
   * files, read by the tap and never written; each is protected once its mirror is attached
   * (README.md § Mirroring hypervisors).
   */
  readonly mirroring?: {
    readonly control: TapMirroring;
    readonly target: (diskId: string) => MirrorTarget;
  };
}

/** vpg.prepare is retried this soon when the peer was not ready (starting, link flapping)… */
const PREPARE_RETRY_TRANSIENT_MS = 2_000;
/** …and this soon when it refused (its placement may be fixed meanwhile). */
const PREPARE_RETRY_MS = 15_000;
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'UNAVAILABLE',
  'METHOD_NOT_FOUND',
  'TIMEOUT',
  'CONNECTION_CLOSED',
]);

/**
 * The protected site's side of one VPG: its disks attached to the tap and protected by a
 * VpgSource (sequencer, outbox), the sender streaming the outbox to the recovery site, the
 * checkpoints it knows, initial sync and resync, and the live numbers for vpg.state and
 * rpo.tick.
 */
export class SourceVpg {
  private source: VpgSource | undefined;
  private sender: VpgSender | undefined;
  private readonly checkpoints: CheckpointLog;
  private readonly attached: string[] = [];
  /** The VPG's open disks, shared with the SyncRunner (addDisks/removeDisks change it). */
  private readonly diskFiles: DiskFile[] = [];
  private link: PeerLink | undefined;
  private fault: TidelineError | undefined;
  /** A recoverable problem with the recovery site, shown as the status message. */
  private peerProblem: string | undefined;
  private prepareTimer: NodeJS.Timeout | undefined;
  private sync: SyncRunner | undefined;
  private usage: TargetUsage | undefined;
  private usageAskedAt = 0;
  private readonly written = new RateMeter();
  private readonly sent = new RateMeter();
  private attachments: MirrorAttachments | undefined;
  private spaceWatch: OutboxSpaceWatch | undefined;
  private stopped = false;

  constructor(
    private vpgValue: StoredVpg,
    private readonly options: SourceVpgOptions,
  ) {
    this.checkpoints = new CheckpointLog({
      vpgId: vpgValue.vpgId,
      historyMs: vpgValue.journal.historySeconds * 1000,
    });
  }

  get vpg(): StoredVpg {
    return this.vpgValue;
  }

  get vpgId(): string {
    return this.vpgValue.vpgId;
  }

  get peerAgentId(): string {
    return this.vpgValue.peerAgentId;
  }

  /** Attaches and protects the disks, opens the source (outbox redo), starts streaming. */
  async start(): Promise<void> {
    const { log, tap } = this.options;
    const disks = this.diskFiles;
    try {
      for (const disk of this.vpgValue.disks) {
        const path = this.options.diskPaths.get(disk.diskId);
        if (path === undefined) {
          throw new TidelineError(
            'NOT_FOUND',
            `Disk ${disk.diskId} of VM ${disk.vmId} is no longer in this site's inventory`,
          );
        }
        disks.push(await tap.attach(disk.diskId, path, this.diskAccess(disk.sizeBytes)));
        this.attached.push(disk.diskId);
      }
      const source = new VpgSource({
        vpgId: this.vpgId,
        dir: outboxDir(this.options.dataDir, this.vpgId),
        disks,
        limitBytes: this.options.outboxLimitBytes,
        // Writes wait for the outbox write() only; FLUSH/FUA for its fdatasync (README.md).
        commit: 'background',
        checkpointIntervalMs: this.vpgValue.checkpointIntervalMs,
      });
      const report = await source.open();
      this.source = source;
      if (report.redone > 0 || report.cutBytes > 0 || report.uncleanShutdown) {
        log.warn(
          {
            redone: report.redone,
            cutBytes: report.cutBytes,
            records: report.records,
            mode: report.mode,
          },
          'outbox recovered after an unclean stop',
        );
      }
      source.on('checkpoint', (record) => this.checkpoints.learn(record));
      this.spaceWatch = new OutboxSpaceWatch({
        source,
        log,
        onDiskFull: (message, time) => {
          this.options.onDiskFull?.(this.vpgValue, message, time);
          this.options.onChange();
        },
        onRecovered: (lastSeq) => this.checkpoints.forgetAbove(lastSeq),
      });
      source.on('fault', (err) => {
        log.error({ err }, 'VPG source fault');
        if (source.status().fault !== undefined) this.fault = err;
        this.options.onChange();
      });
      source.on('mode', (mode, reason) => {
        log.warn({ mode, reason }, 'VPG source changed mode');
        this.options.onChange();
      });
      const mirroring = this.options.mirroring;
      if (mirroring !== undefined && this.vpgValue.seeding !== true) {
        // No process of this agent saw the writes made before this start: compare them all.
        for (const disk of disks) await source.bitmap(disk.diskId).markAll();
      }
      // Checkpoints are images only once initial sync and any resync are done.
      if (this.vpgValue.seeding === true || source.status().dirtyBytes > 0) {
        source.setInconsistent(true);
      }
      // A mirrored disk is protected once its mirror is attached (attachMirrors()).
      if (mirroring === undefined) {
        await Promise.all(disks.map((disk) => tap.protect(disk.diskId, source)));
      } else {
        this.attachments = new MirrorAttachments(
          {
            vpgId: this.vpgId,
            mirroring: mirroring.control,
            target: mirroring.target,
            log,
            onAttached: (diskId) => tap.protect(diskId, source),
            onDetached: (diskId, reason) => this.tapDetached(diskId, reason),
            onChange: () => this.options.onChange(),
          },
          this.vpgValue.disks.map((d) => ({ vmId: d.vmId, diskId: d.diskId })),
        );
      }
      this.sender = new VpgSender({
        vpgId: this.vpgId,
        source,
        log,
        ...(this.options.throttle !== undefined && { throttle: this.options.throttle }),
        onAcked: (seq) => this.checkpoints.ack(seq),
        onCheckpoint: (record) => this.checkpoints.learn(record),
        onFatal: (err) => {
          this.fault = err;
          this.options.onChange();
        },
      });
      this.sender.start();
      this.sync = new SyncRunner({
        source,
        disks,
        outboxLimitBytes: this.options.outboxLimitBytes,
        log,
        ...(this.options.tasks !== undefined && { tasks: this.options.tasks }),
        onSeeded: async () => {
          await this.options.onSeeded();
          this.vpgValue = { ...this.vpgValue, seeding: false };
        },
        onFault: (err) => {
          this.fault = err;
        },
        onChange: () => this.options.onChange(),
        // Delta sync asks the recovery site once vpg.prepare succeeded on the current link.
        target: {
          hashes: (params) => {
            const link = this.link;
            if (link === undefined || this.sender?.connected !== true) {
              return Promise.reject(
                new TidelineError('UNAVAILABLE', 'The link to the recovery site is down'),
              );
            }
            return linkHashes(link).hashes(params);
          },
        },
        preseeded: new Set((this.vpgValue.preseededReplicas ?? []).map((r) => r.diskId)),
        ...(this.attachments !== undefined && { attachments: this.attachments }),
      });
      if (this.vpgValue.seeding === true) this.sync.start('seeding');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Starts keeping the tap attached to the disks of a mirroring hypervisor (once the agent's
   * NBD server, the mirrors' target, listens).
   */
  attachMirrors(): void {
    if (!this.stopped) this.attachments?.start();
  }

  /**
   * Ends the mirrors (the VMs go on on their own files) before the NBD server stops: a clean
   * stop leaves no job for QEMU to fail. stop() does it too.
   */
  async releaseMirrors(): Promise<void> {
    await this.attachments?.stop(true);
  }

  /** Stops streaming and syncing, closes the source (outbox synced), detaches the disks. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.prepareTimer !== undefined) clearTimeout(this.prepareTimer);
    await this.releaseMirrors();
    this.checkpoints.close(
      new TidelineError('UNAVAILABLE', `VPG ${this.vpgId} stopped on this agent`),
    );
    this.sender?.stop();
    await this.sync?.stop();
    const { tap, log } = this.options;
    for (const diskId of this.attached) {
      try {
        tap.unprotect(diskId);
      } catch {
        // not attached any more
      }
    }
    try {
      await this.source?.close();
    } catch (err) {
      log.error({ err }, 'cannot close the VPG source cleanly');
    }
    for (const diskId of this.attached.splice(0)) {
      try {
        await tap.detach(diskId);
      } catch (err) {
        log.error({ err, diskId }, 'cannot detach a disk');
      }
    }
  }

  /** stop(), then delete the outbox. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(outboxDir(this.options.dataDir, this.vpgId), { recursive: true, force: true });
  }

  // ───────────────────────── the link ─────────────────────────

  linkUp(link: PeerLink): void {
    if (this.stopped) return;
    this.link = link;
    drop(this.connect(link), (err) =>
      this.options.log.error({ err }, 'cannot resume the VPG on the link'),
    );
  }

  linkDown(): void {
    this.link = undefined;
    this.usage = undefined;
    if (this.prepareTimer !== undefined) clearTimeout(this.prepareTimer);
    this.sender?.linkDown();
    this.options.onChange();
  }

  onAck(seq: number): void {
    this.sender?.onAck(seq);
  }

  onPosition(seq: number): void {
    this.sender?.onPosition(seq);
  }

  /**
   * Makes sure the target side exists (vpg.prepare is idempotent: after a crash between the
   * two sites' writes, or a lost answer, it converges), learns the checkpoints the target
   * holds, then streams.
   */
  private async connect(link: PeerLink): Promise<void> {
    const { log } = this.options;
    try {
      await callPeer(link, VPG_PREPARE, prepareParams(this.vpgValue), PrepareResultSchema);
    } catch (err) {
      if (this.link !== link || this.stopped) return;
      const message = err instanceof Error ? err.message : String(err);
      this.peerProblem = `The recovery site cannot take the VPG: ${message}`;
      log.warn({ err: message }, 'the recovery site refused vpg.prepare; retrying');
      this.options.onChange();
      const transient = isTidelineError(err) && TRANSIENT_CODES.has(err.code);
      this.prepareTimer = setTimeout(
        () => {
          if (this.link === link) this.linkUp(link);
        },
        transient ? PREPARE_RETRY_TRANSIENT_MS : PREPARE_RETRY_MS,
      );
      this.prepareTimer.unref();
      return;
    }
    if (this.link !== link || this.stopped) return;
    this.options.onTargetConfigured?.(this.vpgValue.version);
    this.peerProblem = undefined;
    this.sender?.linkUp(link);
    this.options.onChange();
    try {
      const known = await callPeer(
        link,
        VPG_CHECKPOINTS,
        { vpgId: this.vpgId },
        CheckpointsResultSchema,
      );
      for (const c of known.checkpoints) this.checkpoints.learn(c);
      const readable = this.source?.outbox.readableSeq() ?? 0;
      this.checkpoints.ack(Math.min(known.lastSeq, readable));
    } catch (err) {
      log.info(
        { err: err instanceof Error ? err.message : String(err) },
        'cannot list the checkpoints of the recovery site',
      );
    }
  }

  // ───────────────────────── vpg.update, addVm, removeVm ─────────────────────────

  /** A sync running ('seeding' / 'resync'), or the outbox keeping a bitmap: no VM may change. */
  get busy(): string | undefined {
    const kind = this.sync?.kind;
    if (kind !== undefined) return kind === 'seeding' ? 'Seeding' : 'Resyncing';
    const status = this.source?.status();
    return status?.mode === 'bitmap' || (status?.dirtyBytes ?? 0) > 0 ? 'Resyncing' : undefined;
  }

  /** New settings (name, journal, checkpoint interval, RPO target): effective at once. */
  applySettings(vpg: StoredVpg): void {
    this.vpgValue = vpg;
    this.source?.sequencer.setCheckpointInterval(vpg.checkpointIntervalMs);
    this.options.onChange();
  }

  /**
   * vpg.addVm: attaches and protects the new disks (they join the one sequence from their
   * next write) with every region dirty: the resync (sync-runner.ts) then sends just them,
   * checkpoints inconsistent meanwhile. The dirty bitmaps persist, so a restart resumes it.
   */
  async addDisks(vpg: StoredVpg, diskPaths: ReadonlyMap<string, string>): Promise<void> {
    const source = this.requireSource();
    const { tap } = this.options;
    const added = vpg.disks.filter((d) => !this.attached.includes(d.diskId));
    for (const disk of added) {
      const path = diskPaths.get(disk.diskId);
      if (path === undefined) {
        throw new TidelineError('NOT_FOUND', `Disk ${disk.diskId} is not in this site's inventory`);
      }
      const file = await tap.attach(disk.diskId, path, this.diskAccess(disk.sizeBytes));
      this.attached.push(disk.diskId);
      await source.addDisk(file);
      // Everything is sent (zero blocks too: the journal may hold records of a disk that
      // left the VPG and came back).
      await source.bitmap(disk.diskId).markAll();
      this.diskFiles.push(file);
      if (this.attachments === undefined) await tap.protect(disk.diskId, source);
    }
    this.attachments?.add(added.map((d) => ({ vmId: d.vmId, diskId: d.diskId })));
    this.applySettings(vpg);
    this.maybeResync();
  }

  /**
   * vpg.removeVm: the disks leave the tap's protection and the sequence; returns the last seq
   * that may hold one of their records (the target keeps them until it has it).
   */
  async removeDisks(vpg: StoredVpg, diskIds: readonly string[]): Promise<number> {
    const source = this.requireSource();
    const { tap } = this.options;
    await this.attachments?.remove(diskIds);
    for (const diskId of diskIds) {
      if (!this.attached.includes(diskId)) continue;
      tap.unprotect(diskId);
      await source.removeDisk(diskId);
      const i = this.diskFiles.findIndex((d) => d.diskId === diskId);
      if (i >= 0) this.diskFiles.splice(i, 1);
      this.attached.splice(this.attached.indexOf(diskId), 1);
      await tap.detach(diskId);
    }
    this.applySettings(vpg);
    return source.status().lastSeq;
  }

  // ───────────────────────── checkpoints ─────────────────────────

  insertCheckpoint(name: string | undefined): CheckpointInfo {
    const source = this.requireSource();
    const seq = source.insertCheckpoint(name);
    const known = this.checkpoints.find(seq);
    if (known === undefined) throw new Error(`checkpoint ${seq} was not reported`);
    return this.checkpoints.info(known);
  }

  listCheckpoints(): CheckpointInfo[] {
    return this.checkpoints.list();
  }

  waitForCheckpoint(seq: number, timeoutMs: number): Promise<CheckpointInfo> {
    return this.checkpoints.waitFor(seq, timeoutMs, () => this.delayReason());
  }

  private delayReason(): string {
    if (this.fault !== undefined) return this.fault.message;
    if (this.link === undefined) return 'the link to the recovery site is down';
    if (this.peerProblem !== undefined) return this.peerProblem;
    const backlog = this.source?.status().backlogBytes ?? 0;
    return `${Math.round(backlog / 1024)} KiB are still waiting to be sent`;
  }

  // ───────────────────────── initial sync and resync ─────────────────────────

  /** After an overflow: resync once the link is up and the old backlog has drained. */
  private maybeResync(): void {
    const source = this.source;
    if (source === undefined || this.sync?.kind !== undefined || this.fault !== undefined) return;
    if (this.vpgValue.seeding === true) return;
    const status = source.status();
    const pending = status.mode === 'bitmap' || status.dirtyBytes > 0;
    if (!pending || this.sender?.connected !== true) return;
    // The resync needs the outbox: after a failure for lack of space, once it takes records.
    if (status.outboxFailed !== undefined) return;
    if (status.mode === 'bitmap' && status.backlogBytes > 0) return;
    this.sync?.start('resync');
  }

  /**
   * A mirrored disk's writes stopped reaching the tap (mirror ended, VM stopped or started):
   * the sync in progress stops first (it could clear marks made now), then the whole disk is
   * marked dirty; the next sync (after the mirror is attached again) compares it.
   */
  private async tapDetached(diskId: string, reason: string): Promise<void> {
    const { tap, log } = this.options;
    const source = this.source;
    if (source === undefined || this.stopped) return;
    try {
      tap.unprotect(diskId);
    } catch {
      // not attached any more
    }
    source.setInconsistent(true);
    await this.sync?.abortRun(`The tap lost disk ${diskId} (${reason})`);
    if (this.vpgValue.seeding !== true) await source.bitmap(diskId).markAll();
    log.info({ diskId, reason }, 'disk marked for a full compare once the tap is attached again');
    // Initial sync starts over (it waits for the attachment); a resync is started by tick().
    if (this.vpgValue.seeding === true) this.sync?.start('seeding');
    this.options.onChange();
  }

  private diskAccess(sizeBytes: number): DiskAccess {
    return this.options.mirroring === undefined ? { mode: 'owned' } : { mode: 'mirror', sizeBytes };
  }

  // ───────────────────────── status and numbers ─────────────────────────

  status(now: number): { status: VpgStatus; message?: string } {
    if (this.fault !== undefined) return { status: 'Error', message: this.fault.message };
    const source = this.source;
    if (source === undefined) return { status: 'Initializing' };
    const problem = this.problemMessage();
    const withProblem = (status: VpgStatus, message?: string) => {
      const text = problem ?? message;
      return text === undefined ? { status } : { status, message: text };
    };
    const attaching = this.attachments?.progress().message;
    if (this.vpgValue.seeding === true) return withProblem('Seeding', attaching);
    const mode = source.status();
    // Also while a resync runs with its regions already taken off the map: checkpoints are
    // inconsistent until it ends, so the VPG is not Protecting yet.
    if (mode.mode === 'bitmap' || mode.dirtyBytes > 0 || mode.inconsistent) {
      return withProblem('Resyncing', mode.mode === 'bitmap' ? bitmapReason(mode) : attaching);
    }
    const anchor = this.checkpoints.newestConfirmedConsistent();
    if (anchor === undefined) return withProblem('Initializing');
    const rpo = currentRpoSeconds(now, anchor.sourceTime);
    return withProblem(rpoMet(rpo, this.rpoTarget(now)) ? 'Protecting' : 'RpoNotMet');
  }

  /** The RPO target in force (a calendar policy's, else the VPG's own). */
  rpoTarget(now: number): number {
    const own = this.vpgValue.rpoTargetSeconds;
    return this.options.rpoTargetAt?.(now, own) ?? own;
  }

  private problemMessage(): string | undefined {
    if (this.peerProblem !== undefined) return this.peerProblem;
    if (this.link === undefined) return 'The link to the recovery site is down';
    return undefined;
  }

  /** Once a second: sample the rates, ask the target's journal use now and then, resync. */
  tick(now: number): RpoTick {
    const status = this.source?.status();
    const written = this.written.sample(now, status?.bytesAccepted ?? 0);
    const sent = this.sent.sample(now, this.sender?.bytesSent ?? 0);
    this.refreshUsage(now);
    if (!this.stopped && status !== undefined) this.spaceWatch?.tick(now, status);
    this.maybeResync();
    const { status: vpgStatus } = this.status(now);
    const rpoSeconds = currentRpoSeconds(
      now,
      this.checkpoints.newestConfirmedConsistent()?.sourceTime,
    );
    return {
      vpgId: this.vpgId,
      time: Math.round(now),
      ...(rpoSeconds !== undefined && { rpoSeconds }),
      rpoTargetSeconds: this.rpoTarget(now),
      writtenBytesPerSecond: Math.round(written),
      sentBytesPerSecond: Math.round(sent),
      backlogBytes: status?.backlogBytes ?? 0,
      journalBytes: this.usage?.bytes ?? 0,
      journalHardLimitBytes: this.vpgValue.journal.hardLimitBytes,
      status: vpgStatus,
    };
  }

  state(now: number): VpgState {
    const { status, message } = this.status(now);
    const source = this.source?.status();
    const rpoSeconds = currentRpoSeconds(
      now,
      this.checkpoints.newestConfirmedConsistent()?.sourceTime,
    );
    const newest = this.checkpoints.newest();
    return {
      ...publicVpg(this.vpgValue),
      status,
      role: 'source',
      ...(message !== undefined && { statusMessage: message }),
      ...(rpoSeconds !== undefined && { rpoSeconds }),
      backlogBytes: source?.backlogBytes ?? 0,
      journalBytes: this.usage?.bytes ?? 0,
      lastSeq: source?.lastSeq ?? 0,
      confirmedSeq: this.checkpoints.ackedSeq,
      ...(newest !== undefined && { latestCheckpoint: this.checkpoints.info(newest) }),
    };
  }

  private refreshUsage(now: number): void {
    const link = this.link;
    if (link === undefined || now - this.usageAskedAt < (this.options.usageIntervalMs ?? 5000)) {
      return;
    }
    this.usageAskedAt = now;
    drop(
      callPeer(link, VPG_USAGE, { vpgId: this.vpgId }, UsageResultSchema, 5000).then((usage) => {
        if (this.link === link) this.usage = usage;
      }),
      (err) =>
        this.options.log.debug(
          { err: err instanceof Error ? err.message : String(err) },
          'cannot read the journal use of the recovery site',
        ),
    );
  }

  private requireSource(): VpgSource {
    if (this.source === undefined || this.stopped) {
      throw new TidelineError('UNAVAILABLE', `VPG ${this.vpgId} is not running on this agent`);
    }
    if (this.fault !== undefined) {
      throw new TidelineError('CONFLICT', `VPG ${this.vpgId} is in Error: ${this.fault.message}`);
    }
    return this.source;
  }
}

/** Why a VPG tracks dirty regions instead of streaming records, for the status message. */
function bitmapReason(status: VpgSourceStatus): string {
  const failed = status.outboxFailed;
  if (failed === undefined) {
    return 'The outbox reached its limit: written regions are tracked and will be resent';
  }
  if (failed.noSpace) {
    return 'The outbox disk is full: written regions are tracked and will be resent once space is freed';
  }
  return `${failed.message}: written regions are tracked; restart the agent to resume replication`;
}
