import { TidelineError } from '../../../app/errors';
import type {
  CheckpointInfo,
  EstateSnapshot,
  SiteView,
  VpgSettings,
  VpgView,
  WorkloadStatus,
} from '../../../app/protocol';
import type { z } from 'zod';
import type { WorkloadSettingsSchema } from '../../../app/protocol';
import type { AgentConnection } from '../agents/agent-connection';
import { findPairing } from '../../../app/estate/pairings';
import type { Logger } from '../util/log';
import { knownSite, refused } from '../estate/site-lookup';

/** What VPG operations need from the console core. */
export interface ProtectionAccess {
  snapshot(): EstateSnapshot;
  /** The connected agents of a site, in settings order. */
  connectedAgents(site: SiteView): AgentConnection[];
  /** Re-fetches these agents' VPGs into the estate, and waits for it. */
  refreshVpgs(keys: readonly string[]): Promise<void>;
  /** A VPG is gone: forget its live figures. */
  forgetVpg(vpgId: string): void;
  readonly logger: Logger;
}

/** Extra time given to checkpoint.waitFor's call beyond the wait the agent does itself. */
const WAIT_GRACE_MS = 10_000;

/**
 * vpgs.create: a connected agent of the protected site (the one running the first VM, if it
 * is connected) creates the VPG and configures the recovery site over the peer link.
 */
export async function createVpg(
  access: ProtectionAccess,
  siteId: string,
  settings: VpgSettings,
): Promise<VpgView> {
  const snapshot = access.snapshot();
  const site = knownSite(snapshot, siteId);
  const recovery = snapshot.sites.find((s) => s.siteId === settings.recoverySiteId);
  const recoveryName = recovery?.name ?? settings.recoverySiteId;
  if (settings.recoverySiteId === siteId) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Choose a recovery site other than "${site.name}": a VPG replicates to another site.`,
      { siteId },
    );
  }
  const siteVms = snapshot.vms.filter((v) => v.siteId === siteId);
  const unknown = settings.vmIds.filter((id) => !siteVms.some((v) => v.vmId === id));
  if (unknown.length > 0) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Site "${site.name}" has no VM ${unknown.join(', ')}: choose VMs of the protected site.`,
      { siteId, vmIds: unknown },
    );
  }
  if (findPairing(snapshot.pairings, siteId, settings.recoverySiteId) === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `Sites "${site.name}" and "${recoveryName}" are not paired: pair them on the Estate page first.`,
      { siteId, recoverySiteId: settings.recoverySiteId },
    );
  }
  const agents = access.connectedAgents(site);
  const owner = siteVms.find((v) => v.vmId === settings.vmIds[0])?.agentKey;
  const via = agents.find((a) => a.key === owner) ?? agents[0];
  if (via === undefined) throw noAgent(site, 'creating a VPG');

  const state = await via.call('vpg.create', settings).catch((err: unknown) => {
    throw refused(err, `Site "${site.name}" could not create VPG "${settings.name}"`);
  });
  access.logger.info(
    { vpgId: state.vpgId, siteId, recoverySiteId: settings.recoverySiteId, via: via.key },
    'VPG created',
  );
  await access.refreshVpgs(bothSitesAgents(access, siteId, settings.recoverySiteId));
  const view = access.snapshot().vpgs.find((v) => v.vpgId === state.vpgId);
  return view ?? { ...state, siteId, agentKey: via.key, live: true, protectedSiteOffline: false };
}

/** vpgs.remove: through a connected agent of siteId that reports the VPG. */
export async function removeVpg(
  access: ProtectionAccess,
  siteId: string,
  vpgId: string,
): Promise<{ removed: true }> {
  const { via, vpg, site } = vpgAgent(access, siteId, vpgId, 'removing a VPG');
  await via.call('vpg.remove', { vpgId }).catch((err: unknown) => {
    throw refused(err, `Site "${site.name}" could not remove VPG "${vpgName(vpg, vpgId)}"`);
  });
  access.logger.info({ vpgId, siteId, via: via.key }, 'VPG removed');
  access.forgetVpg(vpgId);
  const other = vpg?.protectedSiteId === siteId ? vpg.recoverySiteId : vpg?.protectedSiteId;
  await access.refreshVpgs(bothSitesAgents(access, siteId, other));
  return { removed: true };
}

export async function listCheckpoints(
  access: ProtectionAccess,
  siteId: string,
  vpgId: string,
): Promise<CheckpointInfo[]> {
  const { via, vpg, site } = vpgAgent(access, siteId, vpgId, 'listing checkpoints');
  return via.call('checkpoint.list', { vpgId }).catch((err: unknown) => {
    throw refused(
      err,
      `Site "${site.name}" could not list the checkpoints of "${vpgName(vpg, vpgId)}"`,
    );
  });
}

export async function insertCheckpoint(
  access: ProtectionAccess,
  siteId: string,
  vpgId: string,
  name: string,
): Promise<CheckpointInfo> {
  const { via, vpg, site } = vpgAgent(access, siteId, vpgId, 'inserting a checkpoint');
  const checkpoint = await via.call('checkpoint.insert', { vpgId, name }).catch((err: unknown) => {
    throw refused(
      err,
      `Site "${site.name}" could not insert a checkpoint in "${vpgName(vpg, vpgId)}"`,
    );
  });
  access.logger.info({ vpgId, seq: checkpoint.seq, name }, 'checkpoint inserted');
  return checkpoint;
}

export async function waitForCheckpoint(
  access: ProtectionAccess,
  params: { siteId: string; vpgId: string; seq: number; timeoutMs: number },
): Promise<CheckpointInfo> {
  const { siteId, vpgId, seq, timeoutMs } = params;
  const { via, vpg, site } = vpgAgent(access, siteId, vpgId, 'following a checkpoint');
  return via
    .call('checkpoint.waitFor', { vpgId, seq, timeoutMs }, { timeoutMs: timeoutMs + WAIT_GRACE_MS })
    .catch((err: unknown) => {
      throw refused(err, `Checkpoint ${seq} of "${vpgName(vpg, vpgId)}" (site "${site.name}")`);
    });
}

/** workloads.set: through the agent running the VM (or any connected agent of the site). */
export async function setWorkload(
  access: ProtectionAccess,
  siteId: string,
  settings: z.output<typeof WorkloadSettingsSchema>,
): Promise<WorkloadStatus> {
  const snapshot = access.snapshot();
  const site = knownSite(snapshot, siteId);
  const agents = access.connectedAgents(site);
  const vm = snapshot.vms.find((v) => v.siteId === siteId && v.vmId === settings.vmId);
  const via = agents.find((a) => a.key === vm?.agentKey) ?? agents[0];
  if (via === undefined) throw noAgent(site, 'changing a workload');
  return via.call('vm.setWorkload', settings).catch((err: unknown) => {
    throw refused(
      err,
      `Site "${site.name}" could not set the workload of ${vm?.name ?? settings.vmId}`,
    );
  });
}

/** A connected agent of siteId for a VPG: the one the estate shows it from, if it is there. */
export function vpgAgent(
  access: ProtectionAccess,
  siteId: string,
  vpgId: string,
  what: string,
): { via: AgentConnection; vpg: VpgView | undefined; site: SiteView } {
  const snapshot = access.snapshot();
  const site = knownSite(snapshot, siteId);
  const vpg = snapshot.vpgs.find((v) => v.vpgId === vpgId);
  const agents = access.connectedAgents(site);
  const via = agents.find((a) => a.key === vpg?.agentKey) ?? agents[0];
  if (via === undefined) throw noAgent(site, what);
  return { via, vpg, site };
}

export function bothSitesAgents(
  access: ProtectionAccess,
  siteId: string,
  otherSiteId: string | undefined,
): string[] {
  const snapshot = access.snapshot();
  return snapshot.sites
    .filter((s) => s.siteId === siteId || s.siteId === otherSiteId)
    .flatMap((s) => access.connectedAgents(s).map((a) => a.key));
}

export function vpgName(vpg: VpgView | undefined, vpgId: string): string {
  return vpg?.name ?? vpgId;
}

function noAgent(site: SiteView, what: string): TidelineError {
  return new TidelineError(
    'UNAVAILABLE',
    `No agent of site "${site.name}" is connected to this console right now; ${what} needs ` +
      'one. Try again once it is connected.',
    { siteId: site.siteId },
  );
}
