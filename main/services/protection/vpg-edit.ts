import { TidelineError, toTidelineError } from '../../../app/errors';
import type { VpgState, VpgView } from '../../../app/protocol';
import { checkRecoverySettings } from '../../../app/recovery/validate-recovery';
import { VpgEditSchema, emptyPlan, planVpgEdit, type VpgEdit } from '../../../app/vpg/vpg-edit';
import type { VpgEditResult } from '../../../app/protocol/console-api';
import { bothSitesAgents, vpgAgent, vpgName, type ProtectionAccess } from './vpg-operations';

/** How the settings read in "Saved: change …". */
const SETTING_WORDS: Readonly<Record<string, string>> = {
  name: 'name',
  journal: 'journal',
  checkpointIntervalMs: 'checkpoint interval',
  rpoTargetSeconds: 'RPO target',
  recovery: 'boot order and networks',
};

export interface VpgEditParams {
  readonly siteId: string;
  readonly vpgId: string;
  /** The version the admin edited. */
  readonly version: number;
  readonly edit: VpgEdit;
  /** The recovery site is unreachable: change the settings here, applied when it is back. */
  readonly applyLater: boolean;
}

/**
 * vpgs.edit: through a connected agent of the VPG's protected site, the VMs that leave
 * (vpg.removeVm), those that join (vpg.addVm), then the settings (vpg.update, or
 * vpg.forceUpdate with applyLater), each with the version the call before returned. The whole
 * edit is checked before the first call; if a later call fails, the error says what was saved.
 */
export async function editVpg(
  access: ProtectionAccess,
  params: VpgEditParams,
): Promise<VpgEditResult> {
  const { siteId, vpgId } = params;
  const { via, vpg, site } = vpgAgent(access, siteId, vpgId, 'editing a VPG');
  if (vpg === undefined) {
    throw new TidelineError('NOT_FOUND', `No VPG ${vpgId} is known: refresh the Protection page.`, {
      vpgId,
    });
  }
  const name = vpgName(vpg, vpgId);
  if (vpg.protectedSiteId !== siteId) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `VPG "${name}" is edited at its protected site, not at site "${site.name}".`,
      { siteId, vpgId },
    );
  }
  if (params.version !== vpg.version) {
    throw new TidelineError(
      'CONFLICT',
      `VPG "${name}" changed since you opened it (version ${vpg.version}, you edited ${params.version}): reopen it and make your changes again.`,
      { vpgId, version: vpg.version },
    );
  }
  const edit = VpgEditSchema.parse(params.edit);
  const plan = planVpgEdit(vpg, edit);
  if (emptyPlan(plan)) return { vpg, applied: [] };

  const snapshot = access.snapshot();
  const siteVms = snapshot.vms.filter((v) => v.siteId === siteId);
  const wanted = edit.vmIds ?? vpg.vmIds;
  const unknown = plan.addVmIds.filter((id) => !siteVms.some((v) => v.vmId === id));
  if (unknown.length > 0) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Site "${site.name}" has no VM ${unknown.join(', ')}: choose VMs of the protected site.`,
      { vmIds: unknown },
    );
  }
  if (params.applyLater && (plan.addVmIds.length > 0 || plan.removeVmIds.length > 0)) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `VMs join or leave VPG "${name}" only while its recovery site is reachable: save the other changes now, and the VMs once the recovery site is back.`,
      { vpgId },
    );
  }
  if (plan.patch?.recovery !== undefined) {
    checkRecoverySettings(
      plan.patch.recovery,
      wanted.map((vmId) => {
        const vm = siteVms.find((v) => v.vmId === vmId);
        return { vmId, name: vm?.name, nicNames: vm?.nics.map((n) => n.name) ?? [] };
      }),
    );
  }

  const applied: string[] = [];
  const vmLabel = (vmId: string) => siteVms.find((v) => v.vmId === vmId)?.name ?? vmId;
  let version = params.version;
  const step = async (what: string, call: () => Promise<VpgState>): Promise<void> => {
    try {
      version = (await call()).version;
      applied.push(what);
    } catch (err) {
      const e = toTidelineError(err);
      const saved = applied.length > 0 ? ` Saved before it: ${applied.join('; ')}.` : '';
      throw new TidelineError(
        e.code,
        `Site "${site.name}" could not ${what} (VPG "${name}"): ${e.message}${saved}`,
        { ...e.data, applied },
      );
    }
  };
  for (const vmId of plan.removeVmIds) {
    await step(`remove VM ${vmLabel(vmId)}`, () =>
      via.call('vpg.removeVm', { vpgId, vmId, version }),
    );
  }
  for (const vmId of plan.addVmIds) {
    await step(`add VM ${vmLabel(vmId)}`, () => via.call('vpg.addVm', { vpgId, vmId, version }));
  }
  if (plan.patch !== undefined) {
    const settings = plan.patch;
    const method = params.applyLater ? 'vpg.forceUpdate' : 'vpg.update';
    const words = Object.keys(settings).map((k) => SETTING_WORDS[k] ?? k);
    await step(`change ${words.join(', ')}`, () => via.call(method, { vpgId, version, settings }));
  }
  access.logger.info({ vpgId, siteId, via: via.key, applied }, 'VPG edited');
  await access.refreshVpgs(bothSitesAgents(access, siteId, vpg.recoverySiteId));
  const view: VpgView | undefined = access.snapshot().vpgs.find((v) => v.vpgId === vpgId);
  if (view === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `VPG "${name}" is no longer listed by site "${site.name}".`,
    );
  }
  return { vpg: view, applied };
}
