import { KeyedQueue } from '../util/keyed-queue';
import { requireVpgPeer } from './vpg-peer-guard';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import type { VpgState, VpgStatus } from '../../app/protocol';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { MetadataStore } from '../recovery/recovery-types';
import type { ControlCaller } from '../peer/control-channel';
import type { PeerLink, ReceivedRecord } from '../peer/peer-link';
import { checkSafeId } from '../source/source-state';
import { journalDirFor } from '../journal/layout';
import { drop } from '../util/drop';
import {
  addedDisks,
  createReplica,
  droppedDisks,
  journalChanged,
  retirable,
  sameConfig,
  targetConfig,
} from './target-config';
import { TargetVpg, replicaPath, type RecoveryHold, type TargetVpgOptions } from './target-vpg';
import { HashesParamsSchema, type HashesResult } from './hash-control';
import {
  acceptedPreseedPath,
  checkPreseeded,
  installPreseeded,
  type PreseedSources,
} from './preseed';
import {
  PrepareParamsSchema,
  VPG_CHECK_REMOVABLE,
  VpgRefSchema,
  parsePeer,
  type PrepareParams,
  type TargetUsage,
} from './vpg-control';
import { brokenState, publicVpg } from './vpg-view';
import type { StoredVpg, VpgStore } from './vpg-store';
import { OncePer } from '../util/once-per';

export interface TargetSideOptions {
  readonly dataDir: string;
  readonly siteId: string;
  readonly store: VpgStore;
  readonly hypervisor: HypervisorAdapter;
  readonly log: Logger;
  /** A target VPG was added or removed (for vpg.status / inventory notifications). */
  readonly onChange: (vpgId: string) => void;
  readonly retentionIntervalMs?: number;
  /** Each journal retention pass (journal alerts). */
  readonly onRetention?: TargetVpgOptions['onRetention'];
  /** A received VPG's journal disk filled up or has room again (alerts). */
  readonly onDiskFull?: TargetVpgOptions['onDiskFull'];
  /** Received metadata packages: without one a synced VPG is MissingConfiguration. */
  readonly metadata?: MetadataStore;
  /** `run --preseed-dir`: where the admin puts pre-seeded replica images (preseed.ts). */
  readonly preseedDir?: string;
}

/**
 * The recovery site's part of replication: the target VPGs of this agent (journal and
 * replicas each), created and deleted by the protected site's agent over the control
 * channel, fed by the links' RECORDS.
 */
export class TargetSide {
  private readonly vpgs = new Map<string, TargetVpg>();
  /** Target VPGs whose journal could not be opened: shown in Error. */
  private readonly broken = new Map<string, { vpg: StoredVpg; message: string }>();
  /** One prepare/drop/retire at a time per VPG. */
  private readonly queue = new KeyedQueue();
  /** VPGs with a retire queued behind their exclusive section. */
  private readonly retiring = new Set<string>();
  private readonly unknownWarning = new OncePer(10_000);
  /** Failovers' holds, kept here so a reopened journal keeps its VPG's hold. */
  private readonly holds = new Map<string, RecoveryHold>();

  constructor(private readonly options: TargetSideOptions) {}

  async start(): Promise<void> {
    for (const vpg of this.options.store.list()) {
      if (vpg.role !== 'target') continue;
      await this.open(vpg);
    }
  }

  async stop(): Promise<void> {
    const all = [...this.vpgs.values()];
    this.vpgs.clear();
    await Promise.all(
      all.map(async (t) => {
        try {
          await t.close();
        } catch (err) {
          this.options.log.error({ err, vpgId: t.vpgId }, 'cannot close a journal cleanly');
        }
      }),
    );
  }

  has(vpgId: string): boolean {
    return this.vpgs.has(vpgId) || this.broken.has(vpgId);
  }

  get(vpgId: string): TargetVpg | undefined {
    return this.vpgs.get(vpgId);
  }

  /** A failover holds (or releases, undefined) a VPG: status, and records paused or not. */
  hold(vpgId: string, hold: RecoveryHold | undefined): void {
    if (hold === undefined) this.holds.delete(vpgId);
    else this.holds.set(vpgId, hold);
    this.vpgs.get(vpgId)?.setRecoveryHold(hold);
    this.options.onChange(vpgId);
  }

  vpgIds(): string[] {
    return [...this.vpgs.keys(), ...this.broken.keys()];
  }

  state(vpgId: string, now: number): VpgState | undefined {
    const target = this.vpgs.get(vpgId);
    if (target !== undefined) {
      const live = this.withMetadata(vpgId, target.liveStatus(now));
      const usage = target.usage();
      const newest = target.latestCheckpoint();
      return {
        ...publicVpg(target.vpg),
        status: live.status,
        role: 'target',
        ...(live.message !== undefined && { statusMessage: live.message }),
        ...(live.rpoSeconds !== undefined && { rpoSeconds: live.rpoSeconds }),
        backlogBytes: 0,
        journalBytes: usage.bytes,
        lastSeq: usage.lastSeq,
        confirmedSeq: usage.lastSeq,
        ...(newest !== undefined && { latestCheckpoint: newest }),
      };
    }
    const broken = this.broken.get(vpgId);
    return broken === undefined ? undefined : brokenState(broken.vpg, broken.message);
  }

  /** Synced but no metadata package yet: the VMs could not be rebuilt here. */
  private withMetadata<L extends { status: VpgStatus; message?: string }>(
    vpgId: string,
    live: L,
  ): L {
    const { metadata } = this.options;
    if (metadata === undefined || metadata.latest(vpgId) !== undefined) return live;
    if (live.status !== 'Protecting' && live.status !== 'RpoNotMet') return live;
    return {
      ...live,
      status: 'MissingConfiguration',
      message:
        "The metadata package needed to rebuild the VMs has not arrived from the protected site yet (it is sent on every change and every few minutes): check the link and the protected site's agent",
    };
  }

  // ───────────────────────── records from the link ─────────────────────────

  receive(link: PeerLink, vpgId: string, records: readonly ReceivedRecord[]): Promise<number> {
    // A reconfigure (vpg.update/addVm/removeVm, a retire) may be closing and reopening the
    // journal: records wait for it rather than being dropped. A dropped batch would be answered
    // with the position the source's rewound stream started from, which the source takes for a
    // stale answer, not a request to resend: the stream would stall for good.
    const busy = this.queue.pending(vpgId);
    if (busy !== undefined) {
      return busy.then(
        () => this.receiveNow(link, vpgId, records),
        () => this.receiveNow(link, vpgId, records),
      );
    }
    return this.receiveNow(link, vpgId, records);
  }

  private receiveNow(
    link: PeerLink,
    vpgId: string,
    records: readonly ReceivedRecord[],
  ): Promise<number> {
    const target = this.vpgs.get(vpgId);
    if (target === undefined || target.vpg.peerAgentId !== link.peerAgentId) {
      // Not ours (removed here, or never prepared): acknowledge nothing.
      if (this.unknownWarning.take()) {
        this.options.log.warn(
          { vpgId, peer: link.peerAgentId },
          'records for a VPG this agent does not receive: ignored',
        );
      }
      return Promise.resolve(0);
    }
    return target
      .receive(records, (seq) => link.sendPosition(vpgId, seq))
      .then((seq) => {
        this.maybeRetire(vpgId, seq);
        return seq;
      });
  }

  position(vpgId: string): number {
    return this.vpgs.get(vpgId)?.position ?? 0;
  }

  // ───────────────────────── control methods (from the protected site) ─────────────────

  /** vpg.prepare: create (or confirm) the journal and replicas; answers the position. */
  async prepare(params: unknown, caller: ControlCaller): Promise<{ position: number }> {
    const { vpg, retiredDisks } = parsePeer(PrepareParamsSchema, params, 'vpg.prepare');
    const answer = await this.prepareExclusive(vpg, retiredDisks, caller);
    // Records that arrived while this ran could not let retired disks go; no more may follow.
    this.maybeRetire(vpg.vpgId, this.position(vpg.vpgId));
    return answer;
  }

  private prepareExclusive(
    vpg: PrepareParams['vpg'],
    retiredDisks: PrepareParams['retiredDisks'],
    caller: ControlCaller,
  ): Promise<{ position: number }> {
    return this.queue.run(vpg.vpgId, async () => {
      checkSafeId(vpg.vpgId, 'VPG id');
      for (const disk of vpg.disks) checkSafeId(disk.diskId, 'Disk id');
      if (this.options.store.pendingRemovals().some((r) => r.vpgId === vpg.vpgId)) {
        throw new TidelineError(
          'CONFLICT',
          `VPG ${vpg.vpgId} was force-removed at the recovery site: the protected site removes it too`,
        );
      }
      if (vpg.recoverySiteId !== this.options.siteId) {
        throw new TidelineError(
          'CONFLICT',
          `This agent belongs to site ${this.options.siteId}, not to the VPG's recovery site ${vpg.recoverySiteId}`,
        );
      }
      const existing = this.options.store.get(vpg.vpgId);
      if (existing !== undefined) {
        requireVpgPeer(existing, vpg.vpgId, 'target', caller);
        const open = this.vpgs.get(vpg.vpgId);
        if (open === undefined) {
          throw new TidelineError(
            'UNAVAILABLE',
            `The journal of VPG ${vpg.vpgId} cannot be opened at the recovery site: ${this.broken.get(vpg.vpgId)?.message ?? 'see its log'}`,
          );
        }
        const next = targetConfig(existing, vpg, retiredDisks, open.position);
        if (sameConfig(existing, next)) return { position: open.position };
        return { position: (await this.reconfigure(existing, next)).position };
      }
      await this.checkPlacement(vpg.recoveryHostId, vpg.recoveryDatastore);
      // Before anything is stored: a wrong file is refused with nothing to undo.
      if (vpg.preseededReplicas !== undefined) {
        await checkPreseeded(vpg.preseededReplicas, vpg.disks, this.preseedSources());
      }
      const datastoreDir = await this.options.hypervisor.datastoreDir?.(vpg.recoveryDatastore);
      const stored: StoredVpg = {
        ...vpg,
        status: 'Initializing',
        role: 'target',
        peerAgentId: caller.agentId,
        ...(datastoreDir !== undefined && {
          replicaDir: join(datastoreDir, 'tideline-replicas', vpg.vpgId),
        }),
      };
      // Persisted first: a crash before the journal exists is repaired by the next open.
      await this.options.store.add(stored);
      let target: TargetVpg;
      try {
        await this.installPreseeded(stored);
        target = await TargetVpg.open(stored, this.targetOptions());
      } catch (err) {
        await this.options.store.remove(vpg.vpgId);
        await TargetVpg.destroy(this.options.dataDir, stored).catch(() => undefined);
        throw err;
      }
      this.vpgs.set(vpg.vpgId, target);
      this.options.log.info(
        { vpgId: vpg.vpgId, name: vpg.name, disks: vpg.disks.length, from: caller.siteName },
        'receiving a new VPG',
      );
      this.options.onChange(vpg.vpgId);
      return { position: target.position };
    });
  }

  /** vpg.drop: delete the journal and replicas (the protected site removed the VPG). */
  drop(params: unknown, caller: ControlCaller): Promise<{ dropped: boolean }> {
    const { vpgId } = parsePeer(VpgRefSchema, params, 'vpg.drop');
    return this.queue.run(vpgId, async () => {
      const stored = this.options.store.get(vpgId);
      if (stored === undefined) return { dropped: false };
      requireVpgPeer(stored, vpgId, 'target', caller);
      this.refuseIfHeld(vpgId);
      const target = this.vpgs.get(vpgId);
      this.vpgs.delete(vpgId);
      this.broken.delete(vpgId);
      await target?.close();
      await this.options.store.remove(vpgId);
      await TargetVpg.destroy(this.options.dataDir, stored);
      this.options.log.info({ vpgId, name: stored.name }, 'VPG removed by the protected site');
      this.options.onChange(vpgId);
      return { dropped: true };
    });
  }

  /**
   * A committed failover's VPG leaves this site: its journal goes, its replica files stay (they
   * are the recovered VMs' disks now). The protected site retired its side itself.
   */
  retirePromoted(vpgId: string): Promise<void> {
    return this.queue.run(vpgId, async () => {
      const stored = this.options.store.get(vpgId);
      if (stored?.role !== 'target') return;
      const target = this.vpgs.get(vpgId);
      this.vpgs.delete(vpgId);
      this.broken.delete(vpgId);
      this.holds.delete(vpgId);
      await target?.close().catch(() => undefined);
      await this.options.store.remove(vpgId);
      await rm(journalDirFor(this.options.dataDir, vpgId), { recursive: true, force: true });
      this.options.log.info({ vpgId, name: stored.name }, 'VPG promoted: its journal is dropped');
      this.options.onChange(vpgId);
    });
  }

  /**
   * A failover or test in progress uses the VPG's journal: it may not be removed (by either
   * site) until the test is stopped or the failover committed or rolled back.
   */
  refuseIfHeld(vpgId: string): void {
    const hold = this.holds.get(vpgId);
    if (hold === undefined) return;
    const what =
      hold.status === 'TestFailover'
        ? 'a test failover: stop the test first'
        : hold.status === 'FailingOver' || hold.status === 'Promoting'
          ? 'a failover: commit or roll it back first'
          : undefined;
    if (what === undefined) return; // e.g. committed, waiting for reverse settings
    const name = this.options.store.get(vpgId)?.name ?? vpgId;
    throw new TidelineError(
      'CONFLICT',
      `VPG "${name}" cannot be removed while its recovery site runs ${what} (${hold.status})`,
      { vpgId, status: hold.status },
    );
  }

  /** vpg.checkRemovable from the protected site, before its vpg.remove. */
  checkRemovable(params: unknown, caller: ControlCaller): { removable: true } {
    const { vpgId } = parsePeer(VpgRefSchema, params, VPG_CHECK_REMOVABLE);
    const stored = this.options.store.get(vpgId);
    if (stored === undefined) return { removable: true };
    requireVpgPeer(stored, vpgId, 'target', caller);
    this.refuseIfHeld(vpgId);
    return { removable: true };
  }

  /** vpg.forceRemove here: journal and replicas go; the protected site is told later. */
  forceRemove(vpgId: string): Promise<StoredVpg | undefined> {
    return this.queue.run(vpgId, async () => {
      const stored = this.options.store.get(vpgId);
      if (stored?.role !== 'target') return undefined;
      this.refuseIfHeld(vpgId);
      const target = this.vpgs.get(vpgId);
      this.vpgs.delete(vpgId);
      this.broken.delete(vpgId);
      await target?.close().catch(() => undefined);
      await this.options.store.remove(vpgId, {
        vpgId,
        peerAgentId: stored.peerAgentId,
        removedAt: Date.now(),
      });
      await TargetVpg.destroy(this.options.dataDir, stored);
      this.options.onChange(vpgId);
      return stored;
    });
  }

  checkpoints(params: unknown, caller: ControlCaller) {
    const target = this.owned(parsePeer(VpgRefSchema, params, 'vpg.checkpoints').vpgId, caller);
    return { lastSeq: target.position, checkpoints: target.rawCheckpoints() };
  }

  usage(params: unknown, caller: ControlCaller): TargetUsage {
    return this.owned(parsePeer(VpgRefSchema, params, 'vpg.usage').vpgId, caller).usage();
  }

  /** vpg.hashes: the block hashes of the journal's view as of a seq (delta sync). */
  hashes(params: unknown, caller: ControlCaller): Promise<HashesResult> {
    const parsed = parsePeer(HashesParamsSchema, params, 'vpg.hashes');
    return this.owned(parsed.vpgId, caller).hashes(parsed);
  }

  // ───────────────────────── internals ─────────────────────────

  /** A new VPG's pre-seeded replicas: copied into place before its journal opens them. */
  private async installPreseeded(vpg: StoredVpg): Promise<void> {
    const sources = this.preseedSources();
    for (const { diskId, path } of vpg.preseededReplicas ?? []) {
      const started = Date.now();
      const what = `The pre-seeded replica of disk ${diskId}`;
      const real = await acceptedPreseedPath(path, what, sources);
      const result = await installPreseeded(real, replicaPath(this.options.dataDir, vpg, diskId));
      this.options.log.info(
        { vpgId: vpg.vpgId, diskId, path, ...result, ms: Date.now() - started },
        'replica pre-seeded',
      );
    }
  }

  private preseedSources(): PreseedSources {
    const { hypervisor, store, preseedDir } = this.options;
    // Listed once per check of a VPG's files, not once per file.
    let idle: Promise<string[]> | undefined;
    return {
      dir: preseedDir,
      idleVmDisks: () =>
        (idle ??= hypervisor.listVms().then((vms) => {
          const protectedVms = new Set(store.list().flatMap((v) => v.vmIds));
          return vms
            .filter((vm) => vm.powerState === 'stopped' && !protectedVms.has(vm.vmId))
            .flatMap((vm) => vm.disks.map((disk) => disk.location));
        })),
    };
  }

  private owned(vpgId: string, caller: ControlCaller): TargetVpg {
    const target = this.vpgs.get(vpgId);
    requireVpgPeer(target?.vpg, vpgId, 'target', caller);
    return target as TargetVpg;
  }

  /**
   * A new configuration from the protected site (vpg.update, addVm, removeVm), persisted
   * first; the journal is reopened when its disks or settings change (receive() answers the
   * old position meanwhile, and the source resends), replicas of dropped disks are deleted.
   */
  private async reconfigure(existing: StoredVpg, next: StoredVpg): Promise<TargetVpg> {
    const vpgId = next.vpgId;
    const open = this.vpgs.get(vpgId);
    if (open === undefined) throw new TidelineError('UNAVAILABLE', `VPG ${vpgId} is not open`);
    await this.options.store.update(vpgId, () => next);
    if (!journalChanged(existing, next)) {
      open.setVpg(next);
    } else {
      // The closing one answers receive() with its position until the new one is in place.
      await open.close();
      for (const disk of addedDisks(existing, next)) {
        await createReplica(replicaPath(this.options.dataDir, next, disk.diskId), disk.sizeBytes);
      }
      await this.open(next);
      const broken = this.broken.get(vpgId);
      if (broken !== undefined) {
        if (this.vpgs.get(vpgId) === open) this.vpgs.delete(vpgId);
        throw new TidelineError('INTERNAL_ERROR', broken.message);
      }
      for (const disk of droppedDisks(existing, next)) {
        await rm(replicaPath(this.options.dataDir, next, disk.diskId), { force: true });
      }
    }
    this.options.log.info(
      {
        vpgId,
        version: next.version,
        disks: next.disks.length,
        retired: next.retiredDisks?.length,
      },
      'VPG reconfigured by the protected site',
    );
    this.options.onChange(vpgId);
    return this.vpgs.get(vpgId) ?? open;
  }

  /** Lets retired disks go once their last record is in the journal. */
  private maybeRetire(vpgId: string, position: number): void {
    const target = this.vpgs.get(vpgId);
    if (target === undefined || !retirable(target.vpg, position) || this.retiring.has(vpgId)) {
      return;
    }
    this.retiring.add(vpgId);
    drop(
      this.queue.run(vpgId, async () => {
        this.retiring.delete(vpgId);
        const current = this.options.store.get(vpgId);
        const open = this.vpgs.get(vpgId);
        if (current === undefined || open === undefined || !retirable(current, open.position)) {
          return;
        }
        const next = targetConfig(current, publicVpg(current), current.retiredDisks, open.position);
        await this.reconfigure(current, next);
      }),
      (err) => this.options.log.error({ err, vpgId }, 'cannot let removed disks go'),
    );
  }

  private async open(vpg: StoredVpg): Promise<void> {
    try {
      const target = await TargetVpg.open(vpg, this.targetOptions());
      target.setRecoveryHold(this.holds.get(vpg.vpgId));
      this.vpgs.set(vpg.vpgId, target);
      this.broken.delete(vpg.vpgId);
      this.maybeRetire(vpg.vpgId, target.position);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.options.log.error({ err, vpgId: vpg.vpgId }, 'cannot open the journal of a VPG');
      this.broken.set(vpg.vpgId, { vpg, message });
    }
  }

  private targetOptions() {
    return {
      dataDir: this.options.dataDir,
      log: this.options.log,
      ...(this.options.retentionIntervalMs !== undefined && {
        retentionIntervalMs: this.options.retentionIntervalMs,
      }),
      ...(this.options.onRetention !== undefined && { onRetention: this.options.onRetention }),
      ...(this.options.onDiskFull !== undefined && { onDiskFull: this.options.onDiskFull }),
    };
  }

  private async checkPlacement(hostId: string, datastore: string): Promise<void> {
    const hosts = await this.options.hypervisor.listHosts();
    const host = hosts.find((h) => h.hostId === hostId);
    if (host === undefined) {
      throw new TidelineError(
        'NOT_FOUND',
        `Host ${hostId} is not managed by the recovery site's agent; pick one of: ${hosts.map((h) => `${h.name} (${h.hostId})`).join(', ')}`,
      );
    }
    if (!host.datastores.some((d) => d.name === datastore)) {
      throw new TidelineError(
        'NOT_FOUND',
        host.datastores.length === 0
          ? `Host ${host.name} at the recovery site has no datastore: define one (libvirt: a directory storage pool, e.g. virsh pool-define-as vms dir --target /var/lib/libvirt/images; virsh pool-start vms; virsh pool-autostart vms)`
          : `Host ${host.name} at the recovery site has no datastore "${datastore}"; it has: ${host.datastores.map((d) => d.name).join(', ')}`,
      );
    }
  }
}
