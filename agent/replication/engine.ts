import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { TidelineError, isTidelineError } from '../../app/errors';
import type {
  CheckpointInfo,
  CheckpointTest,
  RpoTick,
  Unsubscribe,
  VpgSettings,
  VpgSettingsPatch,
  VpgState,
  VpgStatus,
  WorkloadStatus,
} from '../../app/protocol';
import type { DataDirLayout } from '../config/data-dir';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { PeerLink } from '../peer/peer-link';
import type { PeerService } from '../peer/peer-service';
import { outboxDir } from '../source/vpg-source';
import { DiskTap } from '../tap/disk-tap';
import { drop } from '../util/drop';
import { SourceVpg } from './source-vpg';
import { TargetSide } from './target-side';
import type { RecoveryHold, TargetVpg } from './target-vpg';
import {
  DropResultSchema,
  PrepareResultSchema,
  VPG_CHECKPOINTS,
  VPG_DROP,
  VPG_PREPARE,
  VPG_USAGE,
  VPG_CHECK_REMOVABLE,
  RemovableResultSchema,
  callPeer,
} from './vpg-control';
import { anyAllocated, planVpg } from './vpg-plan';
import { VPG_HASHES } from './hash-control';
import { VpgStore, type StoredVpg } from './vpg-store';
import { brokenState, publicVpg } from './vpg-view';
import { Workloads, type WorkloadRequest, type WorkloadVm } from './workloads';
import { LinkRouter, type LinkRoutes } from './link-router';
import { StatusPublisher } from './status-publisher';
import { VpgChanges } from './vpg-changes';
import type { TaskManager } from '../tasks/task-manager';
import { startExportTask, type ExportDiskRequest } from './export-task';
import type { ReplicationPolicies } from '../policy/policy-scheduler';
import type { Journal } from '../journal/journal';
import type { TargetRetention } from './target-vpg';
import type { MetadataStore } from '../recovery/recovery-types';

/** What the engine tells the consoles (the daemon broadcasts them as notifications). */
export interface ReplicationEvents {
  rpoTick(tick: RpoTick): void;
  vpgStatus(change: { vpgId: string; status: VpgStatus; message?: string }): void;
  /** A source VPG left this agent (its metrics history goes with it). */
  vpgRemoved?(vpgId: string): void;
  /** A retention pass of a received VPG's journal (journal alerts). */
  journalRetention?(vpg: StoredVpg, result: TargetRetention, time: number): void;
  /**
   * A VPG's journal disk (recovery site) or outbox disk (protected site) filled up (message)
   * or has room again (undefined).
   */
  diskFull?(vpg: StoredVpg, message: string | undefined, time: number): void;
  /** A source VPG was created or its settings or VMs changed (metadata capture). */
  vpgChanged?(vpgId: string): void;
}

export interface ReplicationEngineOptions {
  readonly layout: DataDirLayout;
  readonly siteId: string;
  readonly hypervisor: HypervisorAdapter;
  readonly peers: PeerService;
  readonly log: Logger;
  readonly events: ReplicationEvents;
  /** Outbox size per VPG before it keeps dirty bitmaps instead (default 2 GiB). */
  readonly outboxLimitBytes?: number;
  /** `run --preseed-dir`: where pre-seeded replica images may be taken from. */
  readonly preseedDir?: string;
  /** RPO sampling and rpo.tick period (default 1 s). */
  readonly tickMs?: number;
  /** Initial syncs, resyncs and disk exports run as tasks. */
  readonly tasks?: TaskManager;
  /** Calendar policies: bandwidth limits and the RPO target in force (agent/policy). */
  readonly policies?: ReplicationPolicies;
  /** Received metadata packages: a received VPG without one is MissingConfiguration. */
  readonly metadata?: MetadataStore;
  /** Test failover results by checkpoint seq, shown in checkpoint.list (agent/recovery). */
  readonly checkpointTests?: (vpgId: string) => ReadonlyMap<number, CheckpointTest> | undefined;
  /**
   * The agent's NBD socket: a mirroring hypervisor (libvirt) mirrors each protected disk into
   * its export there. Undefined: no NBD server (such VMs cannot be protected).
   */
  readonly nbdSocketPath?: string;
}

/** The console methods of replication (agent/control/replication-handlers.ts). */
export interface ReplicationOperations {
  create(settings: VpgSettings): Promise<VpgState>;
  list(): VpgState[];
  state(vpgId: string): VpgState;
  remove(vpgId: string): Promise<void>;
  listCheckpoints(vpgId: string): CheckpointInfo[];
  insertCheckpoint(vpgId: string, name: string): CheckpointInfo;
  waitForCheckpoint(vpgId: string, seq: number, timeoutMs: number): Promise<CheckpointInfo>;
  setWorkload(request: WorkloadRequest): Promise<WorkloadStatus>;
  workloads(vmId?: string): Promise<WorkloadStatus[]>;
  /** force: vpg.forceUpdate (also with the recovery site unreachable). */
  update(
    vpgId: string,
    version: number,
    patch: VpgSettingsPatch,
    force?: boolean,
  ): Promise<VpgState>;
  addVm(vpgId: string, vmId: string, version?: number): Promise<VpgState>;
  removeVm(vpgId: string, vmId: string, version?: number): Promise<VpgState>;
  forceRemove(vpgId: string): Promise<{ removed: true; peerRemoved: boolean }>;
  exportDisk(request: ExportDiskRequest): Promise<{ taskId: string }>;
}

const DEFAULT_OUTBOX_LIMIT = 2 * 1024 ** 3;
const PEER_CALL_TIMEOUT_MS = 15_000;
const PRESEED_CALL_TIMEOUT_MS = 10 * 60_000;

/**
 * The replication core of one agent: the VPGs it protects (source: tap, VpgSource, sender)
 * and those it receives (target: journal, replicas), the VPG store, the workloads of the sim
 * hypervisor, the wiring to every peer link, and the once-a-second RPO sampling. See
 * agent/replication/README.md.
 */
export class ReplicationEngine implements ReplicationOperations {
  private readonly store: VpgStore;
  private readonly tap = new DiskTap();
  private readonly workloadsValue: Workloads;
  private readonly targets: TargetSide;
  private readonly sources = new Map<string, SourceVpg>();
  /** Source VPGs that could not start: shown in Error, removable. */
  private readonly brokenSources = new Map<string, { vpg: StoredVpg; message: string }>();
  private readonly router: LinkRouter;
  private readonly statuses: StatusPublisher;
  private readonly changes: VpgChanges;
  private readonly controlOff: Unsubscribe[] = [];
  private ticker: NodeJS.Timeout | undefined;
  private serial: Promise<unknown> = Promise.resolve();
  private started = false;
  /** The NBD server listens: sources of a mirroring hypervisor may attach. */
  private tapServed = false;

  constructor(private readonly options: ReplicationEngineOptions) {
    this.store = new VpgStore(options.layout.vpgsFile);
    this.workloadsValue = new Workloads(this.tap, options.hypervisor.kind, {
      file: options.layout.workloadsFile,
      log: options.log,
    });
    this.targets = new TargetSide({
      dataDir: options.layout.root,
      siteId: options.siteId,
      store: this.store,
      hypervisor: options.hypervisor,
      log: options.log.child({ side: 'target' }),
      onChange: (vpgId) => this.publish(vpgId),
      onRetention: (vpg, result, time) => options.events.journalRetention?.(vpg, result, time),
      onDiskFull: (vpg, message, time) => options.events.diskFull?.(vpg, message, time),
      ...(options.metadata !== undefined && { metadata: options.metadata }),
      ...(options.preseedDir !== undefined && { preseedDir: options.preseedDir }),
    });
    this.router = new LinkRouter(options.peers, this.routes());
    this.changes = new VpgChanges({
      store: this.store,
      hypervisor: options.hypervisor,
      peers: options.peers,
      log: options.log,
      workloads: this.workloadsValue,
      targets: this.targets,
      source: (vpgId) => this.sources.get(vpgId),
      state: (vpgId) => this.find(vpgId),
      forgetSource: (vpg, tellPeer) => this.forget(vpg, tellPeer),
      tellRemoved: (vpgId, peerAgentId) => this.tellRemoved(vpgId, peerAgentId),
    });
    this.statuses = new StatusPublisher({
      state: (vpgId) => this.find(vpgId),
      notify: (change) => options.events.vpgStatus(change),
      persist: (vpgId, status) => this.store.update(vpgId, (v) => ({ ...v, status })),
      log: options.log,
    });
  }

  /** The open journal of a VPG this agent is the recovery site of (agent/recovery). */
  targetJournal(vpgId: string): Journal | undefined {
    return this.targets.get(vpgId)?.openJournal;
  }

  /** A VPG as stored (role, peer, settings); undefined when this agent has none. */
  storedVpg(vpgId: string): StoredVpg | undefined {
    try {
      return this.store.get(vpgId);
    } catch {
      return undefined; // before start(): not loaded yet
    }
  }

  /** A VPG received here (journal, checkpoints, settings), for failover; undefined otherwise. */
  recoveryTarget(vpgId: string): TargetVpg | undefined {
    return this.targets.get(vpgId);
  }

  /** A failover holds a received VPG (its status, its stream paused) or releases it. */
  holdForRecovery(vpgId: string, hold: RecoveryHold | undefined): void {
    this.targets.hold(vpgId, hold);
  }

  /** The tap every producer writes through (the NBD server's exports; closed by stop()). */
  get diskTap(): DiskTap {
    return this.tap;
  }

  /**
   * The NBD server listens: the sources of a mirroring hypervisor start attaching to their
   * disks (the hypervisor mirrors into the server's exports).
   */
  tapServing(): void {
    this.tapServed = true;
    for (const source of this.sources.values()) source.attachMirrors();
  }

  /** Ends every mirror before the NBD server stops (the VMs go on on their own files). */
  async releaseMirrors(): Promise<void> {
    this.tapServed = false;
    await Promise.all([...this.sources.values()].map((s) => s.releaseMirrors()));
  }

  /** Loads the VPGs and resumes each: targets reopen their journal, sources redo and stream. */
  async start(): Promise<void> {
    const { log, peers } = this.options;
    await this.store.load();
    this.workloadsValue.start();
    await this.targets.start();
    this.controlOff.push(
      peers.handleControl(VPG_PREPARE, (p, caller) => this.targets.prepare(p, caller)),
      peers.handleControl(VPG_DROP, (p, caller) =>
        // A source VPG force-removed at its recovery site goes here too (after any change).
        this.changes.dropsSource(p)
          ? this.exclusive(() => this.changes.dropFromPeer(p, caller))
          : this.targets.drop(p, caller),
      ),
      peers.handleControl(VPG_CHECKPOINTS, (p, caller) => this.targets.checkpoints(p, caller)),
      peers.handleControl(VPG_USAGE, (p, caller) => this.targets.usage(p, caller)),
      peers.handleControl(VPG_CHECK_REMOVABLE, (p, caller) =>
        this.targets.checkRemovable(p, caller),
      ),
      peers.handleControl(VPG_HASHES, (p, caller) => this.targets.hashes(p, caller)),
    );
    const stored = this.store.list().filter((v) => v.role === 'source');
    if (stored.length > 0) {
      const paths = await this.diskPaths();
      for (const vpg of stored) await this.startSource(vpg, paths);
    }
    await this.workloadsValue.restore((vmId) => this.workloadVm(vmId));
    this.router.start();
    this.ticker = setInterval(() => this.tick(), this.options.tickMs ?? 1000);
    this.ticker.unref();
    this.started = true;
    log.info(
      {
        sources: this.sources.size,
        targets: this.targets.vpgIds().length,
        outboxLimitBytes: this.options.outboxLimitBytes ?? DEFAULT_OUTBOX_LIMIT,
      },
      'replication started',
    );
  }

  /**
   * Stops the workloads, then every VPG (sources: outbox synced, disks durable; targets:
   * journals closed), each failure isolated.
   */
  async stop(): Promise<void> {
    this.started = false;
    const { log } = this.options;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const off of this.controlOff.splice(0)) off();
    this.router.stop();
    const isolate = async (part: string, run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (err) {
        log.error({ err, part }, 'failed to stop cleanly');
      }
    };
    await isolate('workloads', () => this.workloadsValue.stop());
    const sources = [...this.sources.values()];
    this.sources.clear();
    await Promise.all(sources.map((s) => isolate(`VPG ${s.vpgId}`, () => s.stop())));
    await isolate('journals', () => this.targets.stop());
    await isolate('tap', () => this.tap.close());
  }

  // ───────────────────────── console operations ─────────────────────────

  create(
    settings: VpgSettings,
    extra: { reverseOf?: StoredVpg['reverseOf'] } = {},
  ): Promise<VpgState> {
    return this.exclusive(async () => {
      this.ensureStarted();
      const { peers, hypervisor, siteId, log } = this.options;
      const plan = planVpg({
        settings,
        siteId,
        vms: await hypervisor.listVms(),
        peers: peers.list(),
        existing: this.store.list(),
      });
      const link = peers.link(plan.peer.agentId);
      if (link === undefined) {
        throw new TidelineError('UNAVAILABLE', `No link to site "${plan.peer.siteName}"`);
      }
      const mirrored = hypervisor.mirroring !== undefined;
      if (mirrored && this.options.nbdSocketPath === undefined) {
        throw new TidelineError(
          'UNAVAILABLE',
          `This agent runs without its NBD server (--no-nbd): ${hypervisor.kind} VMs cannot be protected, since their disks are mirrored into it`,
        );
      }
      // A pre-seeded replica may hold anything: its disk is compared even if it is all holes.
      // A mirrored disk may be written before its mirror is attached: it is always read.
      const preseeded = (settings.preseededReplicas?.length ?? 0) > 0;
      const seeding = preseeded || mirrored || (await anyAllocated(plan.diskPaths.values()));
      const vpg: StoredVpg = {
        ...settings,
        vpgId: randomUUID(),
        protectedSiteId: siteId,
        disks: plan.disks,
        status: 'Initializing',
        createdAt: Date.now(),
        version: 0,
        role: 'source',
        peerAgentId: plan.peer.agentId,
        ...(seeding && { seeding: true }),
        ...(extra.reverseOf !== undefined && { reverseOf: extra.reverseOf }),
      };
      // Persisted first: after a crash the VPG resumes and prepares its target again.
      await this.store.add(vpg);
      try {
        await callPeer(
          link,
          VPG_PREPARE,
          { vpg: publicVpg(vpg) },
          PrepareResultSchema,
          // The recovery site copies pre-seeded replicas into place first.
          preseeded ? PRESEED_CALL_TIMEOUT_MS : PEER_CALL_TIMEOUT_MS,
        );
      } catch (err) {
        await this.store.remove(vpg.vpgId);
        throw new TidelineError(
          err instanceof TidelineError ? err.code : 'INTERNAL_ERROR',
          `Site "${plan.peer.siteName}" could not set up the VPG: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      try {
        await this.startSource(vpg, plan.diskPaths, true);
      } catch (err) {
        await this.forget(vpg);
        throw err;
      }
      log.info(
        {
          vpgId: vpg.vpgId,
          name: vpg.name,
          vms: vpg.vmIds.length,
          disks: vpg.disks.length,
          seeding,
        },
        'VPG created',
      );
      this.options.events.vpgChanged?.(vpg.vpgId);
      return this.state(vpg.vpgId);
    });
  }

  list(): VpgState[] {
    return this.store.list().flatMap((v) => this.find(v.vpgId) ?? []);
  }

  state(vpgId: string): VpgState {
    const state = this.find(vpgId);
    if (state === undefined) throw notFound(vpgId);
    return state;
  }

  /** A VPG's live state, or undefined if it is not (or not yet) running here. */
  private find(vpgId: string): VpgState | undefined {
    const now = Date.now();
    const source = this.sources.get(vpgId);
    if (source !== undefined) return recoveryView(source.state(now), this.storedVpg(vpgId));
    const broken = this.brokenSources.get(vpgId);
    if (broken !== undefined) return brokenState(broken.vpg, broken.message);
    const target = this.targets.state(vpgId, now);
    const tests = this.options.checkpointTests?.(vpgId);
    if (target === undefined || tests === undefined || tests.size === 0) return target;
    let last = 0;
    for (const test of tests.values()) last = Math.max(last, test.at);
    return { ...target, lastTestedAt: last };
  }

  update(
    vpgId: string,
    version: number,
    patch: VpgSettingsPatch,
    force = false,
  ): Promise<VpgState> {
    this.changes.refuseIfRemoving(vpgId);
    return this.exclusive(async () => {
      this.ensureStarted();
      await this.changes.update(vpgId, version, patch, force);
      this.options.events.vpgChanged?.(vpgId);
      return this.state(vpgId);
    });
  }

  addVm(vpgId: string, vmId: string, version?: number): Promise<VpgState> {
    this.changes.refuseIfRemoving(vpgId);
    return this.exclusive(async () => {
      this.ensureStarted();
      await this.changes.addVm(vpgId, vmId, version);
      this.options.events.vpgChanged?.(vpgId);
      return this.state(vpgId);
    });
  }

  removeVm(vpgId: string, vmId: string, version?: number): Promise<VpgState> {
    this.changes.refuseIfRemoving(vpgId);
    return this.exclusive(async () => {
      this.ensureStarted();
      await this.changes.removeVm(vpgId, vmId, version);
      this.options.events.vpgChanged?.(vpgId);
      return this.state(vpgId);
    });
  }

  forceRemove(vpgId: string): Promise<{ removed: true; peerRemoved: boolean }> {
    return this.exclusive(async () => {
      this.ensureStarted();
      await this.refuseIfHeld(vpgId);
      this.changes.removing.add(vpgId);
      this.options.events.vpgStatus({ vpgId, status: 'RemoveInProgress' });
      try {
        const { peerRemoved } = await this.changes.forceRemove(vpgId);
        this.options.log.info({ vpgId, peerRemoved }, 'VPG force-removed');
        return { removed: true as const, peerRemoved };
      } finally {
        this.changes.removing.delete(vpgId);
      }
    });
  }

  remove(vpgId: string): Promise<void> {
    this.changes.refuseIfRemoving(vpgId);
    this.changes.removing.add(vpgId);
    const done = this.exclusive(async () => {
      this.ensureStarted();
      const vpg = this.store.get(vpgId);
      if (vpg === undefined) throw notFound(vpgId);
      if (vpg.role === 'target') {
        throw new TidelineError(
          'CONFLICT',
          `VPG "${vpg.name}" is received from another site: remove it on the agent of its protected site`,
        );
      }
      await this.refuseIfHeld(vpgId);
      this.options.events.vpgStatus({ vpgId, status: 'RemoveInProgress' });
      for (const vmId of vpg.vmIds) await this.workloadsValue.remove(vmId);
      await this.forget(vpg);
      this.options.log.info({ vpgId, name: vpg.name }, 'VPG removed');
    });
    return done.finally(() => this.changes.removing.delete(vpgId));
  }

  listCheckpoints(vpgId: string): CheckpointInfo[] {
    const source = this.sources.get(vpgId);
    if (source !== undefined) return source.listCheckpoints();
    const target = this.targets.get(vpgId);
    if (target !== undefined) {
      const tests = this.options.checkpointTests?.(vpgId);
      return target.checkpoints().map((c) => {
        const tested = tests?.get(c.seq);
        return tested === undefined ? c : { ...c, tested };
      });
    }
    if (this.brokenSources.has(vpgId) || this.targets.has(vpgId)) return [];
    throw notFound(vpgId);
  }

  insertCheckpoint(vpgId: string, name: string): CheckpointInfo {
    return this.runningSource(vpgId).insertCheckpoint(name);
  }

  async waitForCheckpoint(vpgId: string, seq: number, timeoutMs: number): Promise<CheckpointInfo> {
    const source = this.sources.get(vpgId);
    if (source !== undefined) return source.waitForCheckpoint(seq, timeoutMs);
    const target = this.targets.get(vpgId);
    if (target === undefined) throw notFound(vpgId);
    await target.waitFor(seq, timeoutMs);
    const found = target.checkpoints().find((c) => c.seq === seq);
    if (found === undefined) {
      throw new TidelineError('NOT_FOUND', `VPG ${vpgId} has no checkpoint ${seq} here`);
    }
    return found;
  }

  async setWorkload(request: WorkloadRequest): Promise<WorkloadStatus> {
    this.ensureStarted();
    const vm = await this.workloadVm(request.vmId);
    if (vm === undefined) {
      throw new TidelineError('NOT_FOUND', `VM ${request.vmId} is not on this agent's hosts`);
    }
    const status = await this.workloadsValue.set(request, vm.name, vm.disks);
    this.options.log.info(
      { vmId: request.vmId, bytesPerSecond: request.bytesPerSecond, paused: status.paused },
      'workload set',
    );
    return status;
  }

  /** A VM's name and disks in a running source VPG (undefined: unprotected), if it exists. */
  private async workloadVm(vmId: string): Promise<WorkloadVm | undefined> {
    const vm = (await this.options.hypervisor.listVms()).find((v) => v.vmId === vmId);
    if (vm === undefined) return undefined;
    const owner = [...this.sources.values()].find((s) => s.vpg.vmIds.includes(vmId));
    const disks = owner?.vpg.disks
      .filter((d) => d.vmId === vmId)
      .map((d) => ({ diskId: d.diskId, sizeBytes: d.sizeBytes }));
    return { name: vm.name, disks };
  }

  /** checkpoint.exportDisk: the recovery site only (export-task.ts). */
  async exportDisk(request: ExportDiskRequest): Promise<{ taskId: string }> {
    const { vpgId } = request;
    if (this.sources.has(vpgId) || this.brokenSources.has(vpgId)) {
      throw new TidelineError(
        'CONFLICT',
        `VPG ${vpgId} is protected from this site: export its disks on the agent of its recovery site`,
      );
    }
    const target = this.targets.get(vpgId);
    if (target === undefined) {
      if (!this.targets.has(vpgId)) throw notFound(vpgId);
      throw new TidelineError('CONFLICT', `The journal of VPG ${vpgId} cannot be read here`);
    }
    return startExportTask(this.options.tasks, target, request);
  }

  async workloads(vmId?: string): Promise<WorkloadStatus[]> {
    const vms = await this.options.hypervisor.listVms();
    if (vmId !== undefined && !vms.some((v) => v.vmId === vmId)) {
      throw new TidelineError('NOT_FOUND', `VM ${vmId} is not on this agent's hosts`);
    }
    return vms
      .filter((v) => vmId === undefined || v.vmId === vmId)
      .map((v) => this.workloadsValue.status(v.vmId));
  }

  // ───────────────────────── failover: move and reverse (agent/recovery) ─────────────────

  /** Pauses or resumes a VM's simulated workload; paused: its last writes are sequenced. */
  async pauseWorkload(vmId: string, paused: boolean): Promise<void> {
    const status = this.workloadsValue.status(vmId);
    if (status.bytesPerSecond === 0 || status.paused === paused) return;
    await this.setWorkload({ vmId, bytesPerSecond: status.bytesPerSecond, paused });
  }

  /** A source VPG moved to its recovery site (its VMs are off), or back (undefined). */
  async markMoved(vpgId: string, moved: StoredVpg['movedAway']): Promise<void> {
    await this.store.update(vpgId, (v) => {
      const { movedAway: _m, ...rest } = v;
      return moved === undefined ? rest : { ...rest, movedAway: moved };
    });
    this.publish(vpgId);
  }

  /**
   * A moved or failed-over source VPG leaves this site without touching its disks (they seed
   * reverse protection) and without dropping the recovery site's part (promoted there).
   */
  retireSource(vpgId: string): Promise<void> {
    return this.exclusive(async () => {
      const vpg = this.store.get(vpgId);
      if (vpg === undefined) return;
      if (vpg.role !== 'source') {
        throw new TidelineError('CONFLICT', `VPG "${vpg.name}" is not protected from this site`);
      }
      for (const vmId of vpg.vmIds) await this.workloadsValue.remove(vmId);
      await this.forget(vpg, false);
      this.options.log.info({ vpgId, name: vpg.name }, 'VPG retired after its failover');
    });
  }

  /** A committed failover's received VPG: journal dropped, replica files kept (target-side). */
  retirePromotedTarget(vpgId: string): Promise<void> {
    return this.targets.retirePromoted(vpgId);
  }

  // ───────────────────────── sources ─────────────────────────

  private async startSource(
    vpg: StoredVpg,
    paths: ReadonlyMap<string, string>,
    throwOnError = false,
  ): Promise<void> {
    const { log, layout, peers, policies, hypervisor } = this.options;
    const mirroring = hypervisor.mirroring;
    const socketPath = this.options.nbdSocketPath;
    const source = new SourceVpg(vpg, {
      dataDir: layout.root,
      tap: this.tap,
      diskPaths: paths,
      outboxLimitBytes: this.options.outboxLimitBytes ?? DEFAULT_OUTBOX_LIMIT,
      log: log.child({ vpgId: vpg.vpgId }),
      ...(this.options.tasks !== undefined && { tasks: this.options.tasks }),
      ...(policies !== undefined && {
        throttle: policies.throttle(vpg.vpgId, vpg.peerAgentId),
        rpoTargetAt: (now: number, own: number) => policies.rpoTargetAt(vpg.vpgId, now, own),
      }),
      ...(mirroring !== undefined &&
        socketPath !== undefined && {
          mirroring: {
            control: mirroring,
            target: (diskId: string) => ({ socketPath, exportName: diskId }),
          },
        }),
      onChange: () => this.publish(vpg.vpgId),
      onTargetConfigured: (version) => this.targetConfigured(vpg.vpgId, version),
      onDiskFull: (stored, message, time) => this.options.events.diskFull?.(stored, message, time),
      onSeeded: async () => {
        await this.store.update(vpg.vpgId, (v) => {
          const { seeding: _done, ...rest } = v;
          return rest;
        });
      },
    });
    try {
      await source.start();
    } catch (err) {
      if (throwOnError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      log.error({ err, vpgId: vpg.vpgId }, 'cannot resume a VPG');
      this.brokenSources.set(vpg.vpgId, {
        vpg,
        message: `The VPG cannot run on this agent: ${message}`,
      });
      return;
    }
    this.sources.set(vpg.vpgId, source);
    if (this.tapServed) source.attachMirrors();
    const link = peers.link(vpg.peerAgentId);
    if (link?.state === 'connected') source.linkUp(link);
    this.publish(vpg.vpgId);
  }

  /**
   * Stops and deletes a source VPG here, then tells the recovery site to delete its part; if
   * that fails (link down), the removal stays pending and is retried when the link is up.
   */
  private async forget(vpg: StoredVpg, tellPeer = true): Promise<boolean> {
    const source = this.sources.get(vpg.vpgId);
    this.sources.delete(vpg.vpgId);
    this.brokenSources.delete(vpg.vpgId);
    this.statuses.forget(vpg.vpgId);
    if (source !== undefined) await source.destroy();
    else await rm(outboxDir(this.options.layout.root, vpg.vpgId), { recursive: true, force: true });
    this.options.events.vpgRemoved?.(vpg.vpgId);
    if (!tellPeer) {
      await this.store.remove(vpg.vpgId);
      return false;
    }
    await this.store.remove(vpg.vpgId, {
      vpgId: vpg.vpgId,
      peerAgentId: vpg.peerAgentId,
      removedAt: Date.now(),
    });
    return this.tellRemoved(vpg.vpgId, vpg.peerAgentId);
  }

  /** true once the peer deleted its part; false: pending, retried at every link up. */
  private async tellRemoved(vpgId: string, peerAgentId: string): Promise<boolean> {
    const link = this.options.peers.link(peerAgentId);
    if (link?.state !== 'connected') {
      this.options.log.warn(
        { vpgId, peer: peerAgentId },
        'the other site is unreachable: it deletes the VPG when the link is back',
      );
      return false;
    }
    try {
      await callPeer(link, VPG_DROP, { vpgId }, DropResultSchema, PEER_CALL_TIMEOUT_MS);
      await this.store.clearPendingRemoval(vpgId);
      return true;
    } catch (err) {
      this.options.log.warn(
        { vpgId, err: err instanceof Error ? err.message : String(err) },
        'the other site did not delete the VPG yet; retried when the link is up again',
      );
      return false;
    }
  }

  /**
   * Refuses removing a VPG whose journal a failover or test uses: here (received VPGs), or at
   * its recovery site when the link is up (an unreachable one refuses the drop itself, and the
   * removal stays pending until it accepts).
   */
  private async refuseIfHeld(vpgId: string): Promise<void> {
    const vpg = this.store.get(vpgId);
    if (vpg === undefined) return;
    if (vpg.role === 'target') {
      this.targets.refuseIfHeld(vpgId);
      return;
    }
    const link = this.options.peers.link(vpg.peerAgentId);
    if (link?.state !== 'connected') return;
    try {
      await callPeer(
        link,
        VPG_CHECK_REMOVABLE,
        { vpgId },
        RemovableResultSchema,
        PEER_CALL_TIMEOUT_MS,
      );
    } catch (err) {
      // Only the recovery site's refusal stops the removal; silence (or an older agent) does
      // not, as the drop itself is refused there while the VPG is held.
      if (isTidelineError(err) && err.code === 'CONFLICT') throw err;
      this.options.log.warn(
        { vpgId, err: err instanceof Error ? err.message : String(err) },
        'the recovery site did not say whether the VPG is in a failover: removing it',
      );
    }
  }

  private runningSource(vpgId: string): SourceVpg {
    const source = this.sources.get(vpgId);
    if (source !== undefined) return source;
    if (this.targets.has(vpgId)) {
      throw new TidelineError(
        'CONFLICT',
        `VPG ${vpgId} is received here: insert checkpoints on the agent of its protected site`,
      );
    }
    const broken = this.brokenSources.get(vpgId);
    if (broken !== undefined) throw new TidelineError('CONFLICT', broken.message);
    throw notFound(vpgId);
  }

  private async diskPaths(): Promise<Map<string, string>> {
    const paths = new Map<string, string>();
    for (const vm of await this.options.hypervisor.listVms()) {
      for (const disk of vm.disks) paths.set(disk.diskId, disk.location);
    }
    return paths;
  }

  // ───────────────────────── links (LinkRouter) ─────────────────────────

  private routes(): LinkRoutes {
    const forPeer = (peer: string, vpgId: string): SourceVpg | undefined => {
      const source = this.sources.get(vpgId);
      return source?.peerAgentId === peer ? source : undefined;
    };
    return {
      receive: (link, vpgId, records) => this.targets.receive(link, vpgId, records),
      targetPosition: (vpgId) => this.targets.position(vpgId),
      position: (peer, vpgId, seq) => forPeer(peer, vpgId)?.onPosition(seq),
      ack: (peer, vpgId, seq) => forPeer(peer, vpgId)?.onAck(seq),
      up: (link) => this.linkUp(link),
      down: (peer) => {
        for (const source of this.sources.values()) {
          if (source.peerAgentId === peer) source.linkDown();
        }
      },
    };
  }

  /** The recovery site took the VPG at `version` (vpg.prepare): a forced change has landed. */
  private targetConfigured(vpgId: string, version: number): void {
    const pending = this.store.get(vpgId)?.targetPending;
    if (pending === undefined || pending > version) return;
    drop(
      this.store
        .update(vpgId, (v) => {
          const { targetPending: _landed, ...rest } = v;
          return v.targetPending !== undefined && v.targetPending <= version ? rest : v;
        })
        .then(() => {
          this.options.log.info({ vpgId, version }, 'the recovery site took the forced change');
          this.options.events.vpgChanged?.(vpgId);
          this.publish(vpgId);
        }),
      (err) => this.options.log.warn({ err, vpgId }, 'cannot record the forced change as landed'),
    );
  }

  private linkUp(link: PeerLink): void {
    for (const source of this.sources.values()) {
      if (source.peerAgentId === link.peerAgentId) source.linkUp(link);
    }
    for (const pending of this.store.pendingRemovals()) {
      if (pending.peerAgentId !== link.peerAgentId) continue;
      drop(this.tellRemoved(pending.vpgId, pending.peerAgentId), (err) =>
        this.options.log.error({ err }, 'cannot retry a VPG removal'),
      );
    }
  }

  // ───────────────────────── RPO and status ─────────────────────────

  private tick(): void {
    const now = Date.now();
    for (const source of this.sources.values()) {
      try {
        this.options.events.rpoTick(source.tick(now));
      } catch (err) {
        this.options.log.error({ err, vpgId: source.vpgId }, 'RPO sampling failed');
      }
      this.publish(source.vpgId);
    }
    for (const vpgId of this.targets.vpgIds()) this.publish(vpgId);
  }

  private publish(vpgId: string): void {
    this.statuses.publish(vpgId);
  }

  private ensureStarted(): void {
    if (!this.started) {
      throw new TidelineError(
        'UNAVAILABLE',
        'Replication is starting or shutting down on this agent: retry in a moment',
      );
    }
  }

  /** create/remove one at a time. */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.serial.then(run, run);
    this.serial = next.catch(() => undefined);
    return next;
  }
}

function notFound(vpgId: string): TidelineError {
  return new TidelineError('NOT_FOUND', `VPG ${vpgId} is not on this agent`, { vpgId });
}

/** A source VPG's state as a failover makes it: moved away, or reverse protection seeding. */
function recoveryView(state: VpgState, stored: StoredVpg | undefined): VpgState {
  if (stored?.targetPending !== undefined) state = { ...state, recoverySitePending: true };
  if (stored?.movedAway !== undefined) {
    return {
      ...state,
      status: 'FailingOver',
      statusMessage: `Moved to the recovery site at checkpoint ${stored.movedAway.checkpointSeq}: its VMs are powered off here until the move is committed (this VPG then retires) or rolled back`,
    };
  }
  if (stored?.reverseOf !== undefined && state.status === 'Seeding') {
    return {
      ...state,
      status: 'PromotionCompleteMirrorsNotYetActivated',
      statusMessage:
        'Reverse protection: the original site’s disks are being compared and brought up to date (delta sync)',
    };
  }
  return state;
}
