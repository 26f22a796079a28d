import { TidelineError, isTidelineError } from '../../app/errors';
import { checkRecoverySettings } from '../../app/recovery/validate-recovery';
import type { VpgDisk, VpgSettingsPatch, VpgState } from '../../app/protocol';
import type { HypervisorAdapter } from '../hypervisor/adapter';
import type { Logger } from '../log';
import type { ControlCaller } from '../peer/control-channel';
import type { PeerLink } from '../peer/peer-link';
import type { PeerService } from '../peer/peer-service';
import { checkSafeId } from '../source/source-state';
import { drop } from '../util/drop';
import type { SourceVpg } from './source-vpg';
import type { TargetSide } from './target-side';
import { requireVpgPeer } from './vpg-peer-guard';
import { PrepareResultSchema, VPG_PREPARE, VpgRefSchema, callPeer, parsePeer } from './vpg-control';
import type { RetiredDisk, StoredVpg, VpgStore } from './vpg-store';
import { checkProtectable, recoveryVms } from './vpg-plan';
import { prepareParams } from './vpg-view';
import type { Workloads } from './workloads';

/** What VpgChanges needs of the engine. */
export interface VpgChangesContext {
  readonly store: VpgStore;
  readonly hypervisor: HypervisorAdapter;
  readonly peers: PeerService;
  readonly log: Logger;
  readonly workloads: Workloads;
  readonly targets: TargetSide;
  source(vpgId: string): SourceVpg | undefined;
  state(vpgId: string): VpgState | undefined;
  /** Stops and deletes a source VPG here; tells the peer (if `tellPeer`): true once it has. */
  forgetSource(vpg: StoredVpg, tellPeer: boolean): Promise<boolean>;
  /** Tells the peer a VPG is gone (or keeps it pending for the next link up): true if told. */
  tellRemoved(vpgId: string, peerAgentId: string): Promise<boolean>;
}

/** Keeps a retired disk at the target while its last record has not arrived. */
const UNTIL_TOLD = Number.MAX_SAFE_INTEGER;
const PEER_CALL_TIMEOUT_MS = 15_000;
const TRANSIENT: ReadonlySet<string> = new Set(['TIMEOUT', 'CONNECTION_CLOSED', 'UNAVAILABLE']);

/**
 * vpg.update, vpg.addVm, vpg.removeVm and vpg.forceRemove on the protected site's agent (and
 * forceRemove on either). A change is made at the recovery site first (vpg.prepare with the
 * new configuration, which that agent mirrors): if it cannot be reached the change is refused
 * and nothing changes; then here, persisted, applied to the running source. Every change
 * bumps `version`. The engine runs them one at a time. See agent/replication/README.md.
 */
export class VpgChanges {
  /** VPGs being removed (vpg.remove, forceRemove): changes are refused meanwhile. */
  readonly removing = new Set<string>();

  constructor(private readonly ctx: VpgChangesContext) {}

  /** Before queueing behind a removal: say so rather than NOT_FOUND later. */
  refuseIfRemoving(vpgId: string): void {
    if (!this.removing.has(vpgId)) return;
    const name = this.ctx.store.get(vpgId)?.name ?? vpgId;
    throw new TidelineError(
      'CONFLICT',
      `VPG "${name}" is being removed (RemoveInProgress): it cannot be changed`,
      { vpgId },
    );
  }

  /**
   * vpg.update, or with `force` (vpg.forceUpdate) also while the recovery site is unreachable:
   * then only this site changes, marked targetPending, and the recovery site takes the
   * settings with vpg.prepare when the link is back (SourceVpg.connect).
   */
  async update(
    vpgId: string,
    version: number,
    patch: VpgSettingsPatch,
    force = false,
  ): Promise<void> {
    const { stored, source, link } = this.changeable(vpgId, version, force);
    if (patch.name !== undefined) {
      const clash = this.ctx.store.list().find((v) => v.name === patch.name && v.vpgId !== vpgId);
      if (clash !== undefined) {
        throw new TidelineError(
          'ALREADY_EXISTS',
          `A VPG named "${patch.name}" already exists on this agent (${clash.vpgId}); choose another name`,
        );
      }
    }
    if (patch.recovery !== undefined) {
      const vms = recoveryVms(stored.vmIds, await this.ctx.hypervisor.listVms());
      checkRecoverySettings(patch.recovery, vms);
    }
    const fields: Partial<StoredVpg> = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.recovery !== undefined && { recovery: structuredClone(patch.recovery) }),
      ...(patch.journal !== undefined && { journal: { ...patch.journal } }),
      ...(patch.checkpointIntervalMs !== undefined && {
        checkpointIntervalMs: patch.checkpointIntervalMs,
      }),
      ...(patch.rpoTargetSeconds !== undefined && { rpoTargetSeconds: patch.rpoTargetSeconds }),
      version: stored.version + 1,
      retiredDisks: pruneRetired(stored.retiredDisks, source.state(Date.now()).confirmedSeq),
    };
    if (link !== undefined) await this.configureTarget(link, with_(stored, fields), stored);
    else fields.targetPending = stored.version + 1;
    await this.commit(vpgId, fields, source);
    this.ctx.log.info(
      {
        vpgId,
        version: fields.version,
        changed: Object.keys(patch),
        ...(link === undefined && { recoverySitePending: true }),
      },
      link === undefined
        ? 'VPG updated here; the recovery site takes it when it is back'
        : 'VPG updated',
    );
  }

  async addVm(vpgId: string, vmId: string, version: number | undefined): Promise<void> {
    const { stored, source, link } = this.changeable(vpgId, version);
    this.refuseIfBusy(stored, source, 'add a VM');
    const vm = (await this.ctx.hypervisor.listVms()).find((v) => v.vmId === vmId);
    if (vm === undefined) {
      throw new TidelineError(
        'NOT_FOUND',
        `VM ${vmId} is not on this agent's hosts: only VMs of the VPG's protected site can join it`,
        { vmId },
      );
    }
    const owner = this.ctx.store.list().find((v) => v.role === 'source' && v.vmIds.includes(vmId));
    if (owner !== undefined) {
      throw new TidelineError(
        'CONFLICT',
        owner.vpgId === vpgId
          ? `VM ${vm.name} is already in VPG "${stored.name}"`
          : `VM ${vm.name} is already protected by VPG "${owner.name}": remove it from there first`,
        { vmId, vpgId: owner.vpgId },
      );
    }
    checkProtectable(vm);
    const added: VpgDisk[] = [];
    const paths = new Map<string, string>();
    for (const disk of vm.disks) {
      checkSafeId(disk.diskId, 'Disk id');
      if (stored.disks.some((d) => d.diskId === disk.diskId) || paths.has(disk.diskId)) {
        throw new TidelineError('CONFLICT', `Disk ${disk.diskId} is already in the VPG`);
      }
      added.push({ vmId, diskId: disk.diskId, sizeBytes: disk.sizeBytes });
      paths.set(disk.diskId, disk.location);
    }
    const addedIds = new Set(added.map((d) => d.diskId));
    const fields: Partial<StoredVpg> = {
      vmIds: [...stored.vmIds, vmId],
      disks: [...stored.disks, ...added],
      version: stored.version + 1,
      // A disk that comes back is no longer retired (the target keeps its journal disk).
      retiredDisks: pruneRetired(
        stored.retiredDisks?.filter((d) => !addedIds.has(d.diskId)),
        source.state(Date.now()).confirmedSeq,
      ),
    };
    await this.configureTarget(link, with_(stored, fields), stored);
    await this.ctx.store.update(vpgId, (v) => with_(v, fields));
    try {
      await source.addDisks(with_(source.vpg, fields), paths);
    } catch (err) {
      // Back to where it was, on both sites (disks already attached are let go again).
      await source.removeDisks(source.vpg, [...addedIds]).catch(() => undefined);
      await this.ctx.store.update(vpgId, (v) => ({ ...stored, status: v.status }));
      source.applySettings(stored);
      drop(this.sendTarget(link, stored), () => undefined);
      throw err;
    }
    this.ctx.log.info(
      { vpgId, vmId, disks: added.length, version: fields.version },
      'VM added to the VPG',
    );
  }

  async removeVm(vpgId: string, vmId: string, version: number | undefined): Promise<void> {
    const { stored, source, link } = this.changeable(vpgId, version);
    if (!stored.vmIds.includes(vmId)) {
      throw new TidelineError('NOT_FOUND', `VM ${vmId} is not in VPG "${stored.name}"`, { vmId });
    }
    if (stored.vmIds.length === 1) {
      throw new TidelineError(
        'CONFLICT',
        `VM ${vmId} is the last VM of VPG "${stored.name}": remove the VPG instead (vpg.remove)`,
        { vmId },
      );
    }
    this.refuseIfBusy(stored, source, 'remove a VM');
    const leaving = stored.disks.filter((d) => d.vmId === vmId);
    const kept = pruneRetired(stored.retiredDisks, source.state(Date.now()).confirmedSeq) ?? [];
    // The VM's recovery settings go with it (they would name a VM the VPG no longer has).
    const recovery = stored.recovery && {
      vms: stored.recovery.vms.filter((v) => v.vmId !== vmId),
    };
    const fields = (untilSeq: number): Partial<StoredVpg> => ({
      vmIds: stored.vmIds.filter((v) => v !== vmId),
      ...(recovery !== undefined && { recovery }),
      disks: stored.disks.filter((d) => d.vmId !== vmId),
      version: stored.version + 1,
      retiredDisks: [...kept, ...leaving.map((d) => ({ ...d, untilSeq }))],
    });
    // 1. The recovery site drops the VM but keeps its disks' journal until told up to where.
    await this.configureTarget(link, with_(stored, fields(UNTIL_TOLD)), stored);
    // 2. Here: its workload stops, its disks leave the tap and the sequence.
    await this.ctx.workloads.remove(vmId);
    const untilSeq = await source.removeDisks(
      with_(source.vpg, fields(UNTIL_TOLD)),
      leaving.map((d) => d.diskId),
    );
    const final = fields(untilSeq);
    await this.commit(vpgId, final, source);
    // 3. The recovery site learns the last seq of those disks (else at the next link up).
    try {
      await this.sendTarget(link, with_(stored, final));
    } catch (err) {
      this.ctx.log.warn(
        { vpgId, err: err instanceof Error ? err.message : String(err) },
        'the recovery site learns the end of the removed disks at the next link up',
      );
    }
    this.ctx.log.info(
      { vpgId, vmId, disks: leaving.length, untilSeq, version: final.version },
      'VM removed from the VPG',
    );
  }

  /**
   * Removes a VPG from this agent whatever the other site's state: a source is stopped and
   * its outbox deleted, a target's journal and replicas deleted. The other agent is told at
   * once if it can be reached, else when the link is back (it then removes its part).
   */
  async forceRemove(vpgId: string): Promise<{ peerRemoved: boolean }> {
    const stored = this.ctx.store.get(vpgId);
    if (stored === undefined) {
      throw new TidelineError('NOT_FOUND', `VPG ${vpgId} is not on this agent`, { vpgId });
    }
    if (stored.role === 'source') {
      for (const vmId of stored.vmIds) await this.ctx.workloads.remove(vmId);
      return { peerRemoved: await this.ctx.forgetSource(stored, true) };
    }
    await this.ctx.targets.forceRemove(vpgId);
    return { peerRemoved: await this.ctx.tellRemoved(vpgId, stored.peerAgentId) };
  }

  /** Whether a vpg.drop from the peer is about a VPG this agent protects. */
  dropsSource(params: unknown): boolean {
    const parsed = VpgRefSchema.safeParse(params);
    return parsed.success && this.ctx.store.get(parsed.data.vpgId)?.role === 'source';
  }

  /**
   * vpg.drop from the peer: the protected site's agent removed a VPG this agent receives, or
   * the recovery site's agent force-removed one this agent protects (then it goes here too).
   */
  async dropFromPeer(params: unknown, caller: ControlCaller): Promise<{ dropped: boolean }> {
    const { vpgId } = parsePeer(VpgRefSchema, params, 'vpg.drop');
    const stored = this.ctx.store.get(vpgId);
    if (stored?.role !== 'source') return this.ctx.targets.drop(params, caller);
    requireVpgPeer(stored, vpgId, 'source', caller);
    for (const vmId of stored.vmIds) await this.ctx.workloads.remove(vmId);
    await this.ctx.forgetSource(stored, false);
    this.ctx.log.warn(
      { vpgId, name: stored.name, by: caller.siteName },
      'VPG removed: the recovery site force-removed it',
    );
    return { dropped: true };
  }

  // ───────────────────────── internals ─────────────────────────

  /** The checks every change makes: a running source VPG here, the version, the link. */
  private changeable(
    vpgId: string,
    version: number | undefined,
    unreachableOk: true,
  ): { stored: StoredVpg; source: SourceVpg; link: PeerLink | undefined };
  private changeable(
    vpgId: string,
    version: number | undefined,
    unreachableOk?: boolean,
  ): { stored: StoredVpg; source: SourceVpg; link: PeerLink };
  private changeable(
    vpgId: string,
    version: number | undefined,
    unreachableOk = false,
  ): { stored: StoredVpg; source: SourceVpg; link: PeerLink | undefined } {
    this.refuseIfRemoving(vpgId);
    const stored = this.ctx.store.get(vpgId);
    if (stored === undefined) {
      throw new TidelineError('NOT_FOUND', `VPG ${vpgId} is not on this agent`, { vpgId });
    }
    if (stored.role === 'target') {
      throw new TidelineError(
        'CONFLICT',
        `VPG "${stored.name}" is received from another site: change it on the agent of its protected site`,
      );
    }
    const state = this.ctx.state(vpgId);
    const source = this.ctx.source(vpgId);
    if (state?.status === 'Error' || source === undefined) {
      throw new TidelineError(
        'CONFLICT',
        `VPG "${stored.name}" is in Error (${state?.statusMessage ?? 'it is not running'}): fix the cause or remove the VPG before changing it`,
        { vpgId },
      );
    }
    if (version !== undefined && version !== stored.version) {
      throw new TidelineError(
        'CONFLICT',
        `VPG "${stored.name}" changed since it was read: you edited version ${version}, it is now at version ${stored.version}; reload it and make the change again`,
        { vpgId, version, currentVersion: stored.version },
      );
    }
    const link = this.ctx.peers.link(stored.peerAgentId);
    if (link?.state !== 'connected') {
      if (unreachableOk) return { stored, source, link: undefined };
      const peer = this.ctx.peers.list().find((p) => p.agentId === stored.peerAgentId);
      throw new TidelineError(
        'UNAVAILABLE',
        `The recovery site${peer === undefined ? '' : ` "${peer.siteName}"`} cannot be reached: VPG "${stored.name}" was not changed (both sites must agree); retry once the link is up`,
        { vpgId },
      );
    }
    return { stored, source, link };
  }

  private refuseIfBusy(stored: StoredVpg, source: SourceVpg, what: string): void {
    const busy = source.busy;
    if (busy === undefined) return;
    throw new TidelineError(
      'CONFLICT',
      `VPG "${stored.name}" is ${busy}: ${what} once it is protecting again`,
      { vpgId: stored.vpgId },
    );
  }

  /** The recovery site takes `next`; if it cannot, it is asked to go back to `previous`. */
  private async configureTarget(
    link: PeerLink,
    next: StoredVpg,
    previous: StoredVpg,
  ): Promise<void> {
    try {
      await this.sendTarget(link, next);
    } catch (err) {
      // It may have applied it before the answer was lost: make it mirror this site again.
      drop(this.sendTarget(link, previous), () => undefined);
      const message = err instanceof Error ? err.message : String(err);
      const code = isTidelineError(err) && !TRANSIENT.has(err.code) ? err.code : 'UNAVAILABLE';
      throw new TidelineError(
        code,
        `The recovery site could not apply the change (${message}): VPG "${previous.name}" was not changed`,
        { vpgId: previous.vpgId },
      );
    }
  }

  private async sendTarget(link: PeerLink, vpg: StoredVpg): Promise<void> {
    await callPeer(
      link,
      VPG_PREPARE,
      prepareParams(vpg),
      PrepareResultSchema,
      PEER_CALL_TIMEOUT_MS,
    );
  }

  /** Persists the changed fields and hands them to the running source. */
  private async commit(vpgId: string, fields: Partial<StoredVpg>, source: SourceVpg) {
    await this.ctx.store.update(vpgId, (v) => with_(v, fields));
    source.applySettings(with_(source.vpg, fields));
  }
}

/** `vpg` with `fields` changed; an empty or undefined `retiredDisks` is left out. */
function with_(vpg: StoredVpg, fields: Partial<StoredVpg>): StoredVpg {
  const { retiredDisks: _r, ...rest } = vpg;
  const retired = 'retiredDisks' in fields ? fields.retiredDisks : vpg.retiredDisks;
  const { retiredDisks: _f, ...changes } = fields;
  return {
    ...rest,
    ...changes,
    ...(retired !== undefined && retired.length > 0 && { retiredDisks: retired }),
  };
}

/** Retired disks the target may still need: their last record not yet acknowledged. */
function pruneRetired(
  retired: readonly RetiredDisk[] | undefined,
  ackedSeq: number,
): RetiredDisk[] | undefined {
  const kept = retired?.filter((d) => d.untilSeq > ackedSeq);
  return kept === undefined || kept.length === 0 ? undefined : kept;
}
