import type { VmView } from '../../app/protocol/console-api';
import {
  VpgRecoverySettingsSchema,
  type IpSettings,
  type NicMapping,
  type VmRecoverySettingsInput,
  type VpgRecoverySettings,
} from '../../app/recovery/recovery-schemas';
import { recoveryProblems } from '../../app/recovery/validate-recovery';
import type { VpgEdit, VpgEditPlan } from '../../app/vpg/vpg-edit';
import { normalRecovery } from '../../app/vpg/vpg-edit';
import type { Vpg } from '../../app/vpg/vpg-schemas';
import { formatDuration, formatSize } from './protection';
import { formToSettings, type VpgForm, type VpgFormErrors } from './vpg-form';

const GIB = 2 ** 30;

export type FailoverKind = 'live' | 'test';
export type IpMode = IpSettings['mode'];

/** One NIC's landing for one kind of failover, as typed. Empty network: the default one. */
export interface NicForm {
  readonly network: string;
  readonly ipMode: IpMode;
  readonly address: string;
  readonly prefixLength: string;
  readonly gateway: string;
  /** Comma- or space-separated. */
  readonly dns: string;
}

export interface VmRecoveryForm {
  readonly bootGroup: string;
  readonly bootDelaySeconds: string;
  /** By NIC name; a NIC without an entry keeps the defaults. */
  readonly nics: Readonly<Record<string, Readonly<Record<FailoverKind, NicForm>>>>;
}

/** The edit dialog's fields: the wizard's (journal, RPO, VMs) plus recovery per VM. */
export interface VpgEditForm {
  readonly base: VpgForm;
  readonly recovery: Readonly<Record<string, VmRecoveryForm>>;
}

export const EMPTY_NIC: NicForm = {
  network: '',
  ipMode: 'keep',
  address: '',
  prefixLength: '24',
  gateway: '',
  dns: '',
};

export const EMPTY_VM_RECOVERY: VmRecoveryForm = {
  bootGroup: '0',
  bootDelaySeconds: '0',
  nics: {},
};

/** Errors by key: the wizard's fields, and recoveryKey(…) for the recovery ones. */
export type VpgEditErrors = VpgFormErrors & {
  readonly recovery?: Readonly<Record<string, string>>;
};

/** Where a recovery error shows: a VM's boot field, or one field of one NIC mapping. */
export function recoveryKey(
  vmId: string,
  field: string,
  nic?: { kind: FailoverKind; nicName: string },
): string {
  return nic === undefined ? `${vmId}/${field}` : `${vmId}/${nic.kind}/${nic.nicName}/${field}`;
}

/** The form of a VPG as it is now. */
export function editFormOf(vpg: Vpg): VpgEditForm {
  const { journal } = vpg;
  const percent = (journal.warningBytes / journal.hardLimitBytes) * 100;
  const wholePercent = Number.isInteger(Math.round(percent * 100) / 100);
  const base: VpgForm = {
    name: vpg.name,
    protectedSiteId: vpg.protectedSiteId,
    vmIds: [...vpg.vmIds],
    recoverySiteId: vpg.recoverySiteId,
    recoveryHostId: vpg.recoveryHostId,
    recoveryDatastore: vpg.recoveryDatastore,
    historyHours: String(Number((journal.historySeconds / 3600).toFixed(4))),
    hardLimitGiB: String(Number((journal.hardLimitBytes / GIB).toFixed(4))),
    warning: wholePercent
      ? String(Math.round(percent))
      : String(Number((journal.warningBytes / GIB).toFixed(4))),
    warningUnit: wholePercent ? 'percent' : 'GiB',
    checkpointIntervalSeconds: String(vpg.checkpointIntervalMs / 1000),
    rpoTargetSeconds: String(vpg.rpoTargetSeconds),
  };
  const recovery: Record<string, VmRecoveryForm> = {};
  for (const entry of vpg.recovery?.vms ?? []) {
    const nics: Record<string, Record<FailoverKind, NicForm>> = {};
    for (const kind of ['live', 'test'] as const) {
      for (const m of entry[kind]) {
        const both = nics[m.nicName] ?? { live: EMPTY_NIC, test: EMPTY_NIC };
        nics[m.nicName] = { ...both, [kind]: nicFormOf(m) };
      }
    }
    recovery[entry.vmId] = {
      bootGroup: String(entry.bootGroup),
      bootDelaySeconds: String(entry.bootDelaySeconds),
      nics,
    };
  }
  return { base, recovery };
}

function nicFormOf(m: NicMapping): NicForm {
  if (m.ip.mode !== 'static') return { ...EMPTY_NIC, network: m.network, ipMode: m.ip.mode };
  return {
    network: m.network,
    ipMode: 'static',
    address: m.ip.address,
    prefixLength: String(m.ip.prefixLength),
    gateway: m.ip.gateway ?? '',
    dns: m.ip.dns.join(', '),
  };
}

/** The network a NIC lands on when the admin gives none (agent/recovery's defaults). */
export function defaultNetwork(network: string, kind: FailoverKind): string {
  return kind === 'live' ? network : `${network}-test`;
}

export type EditFormResult = { ok: true; edit: VpgEdit } | { ok: false; errors: VpgEditErrors };

/**
 * The form as a VpgEdit, checked with the wizard's rules for the shared fields and with the
 * app's recovery schema and recoveryProblems for the rest, each problem beside its field.
 */
export function formToEdit(form: VpgEditForm, siteVms: readonly VmView[]): EditFormResult {
  const base = formToSettings(form.base);
  const errors: Record<string, string> = {};
  const entries: VmRecoverySettingsInput[] = [];
  /** Per entry, per kind: the NIC name of each mapping, to put schema issues back in place. */
  const where: { vmId: string; nics: Record<FailoverKind, string[]> }[] = [];
  for (const vmId of form.base.vmIds) {
    const vm = form.recovery[vmId];
    if (vm === undefined) continue;
    const vmNics = siteVms.find((v) => v.vmId === vmId)?.nics ?? [];
    const entry = {
      vmId,
      bootGroup: integer(vm.bootGroup, recoveryKey(vmId, 'bootGroup'), errors),
      bootDelaySeconds: integer(vm.bootDelaySeconds, recoveryKey(vmId, 'bootDelaySeconds'), errors),
      live: [] as NicMapping[],
      test: [] as NicMapping[],
    };
    const names: Record<FailoverKind, string[]> = { live: [], test: [] };
    for (const nic of vmNics) {
      for (const kind of ['live', 'test'] as const) {
        const f = form.recovery[vmId]?.nics[nic.name]?.[kind];
        if (f === undefined || (f.network.trim() === '' && f.ipMode === 'keep')) continue;
        entry[kind].push({
          nicName: nic.name,
          network: f.network.trim() || defaultNetwork(nic.network, kind),
          ip: ipOf(f, recoveryKey(vmId, 'prefixLength', { kind, nicName: nic.name }), errors),
        });
        names[kind].push(nic.name);
      }
    }
    entries.push(entry);
    where.push({ vmId, nics: names });
  }
  const parsed = VpgRecoverySettingsSchema.safeParse({ vms: entries });
  let recovery: VpgRecoverySettings | undefined;
  if (parsed.success) {
    recovery = parsed.data;
    const vmInfo = form.base.vmIds.map((vmId) => ({
      vmId,
      name: siteVms.find((v) => v.vmId === vmId)?.name,
      nicNames: siteVms.find((v) => v.vmId === vmId)?.nics.map((n) => n.name) ?? [],
    }));
    for (const p of recoveryProblems(recovery, vmInfo)) {
      const key = keyOfPath(p.path.slice(2), where);
      if (key !== undefined) errors[key] ??= p.message;
    }
  } else {
    for (const issue of parsed.error.issues) {
      const key = keyOfPath(issue.path, where);
      if (key !== undefined) errors[key] ??= capitalize(issue.message);
    }
  }
  const shared = base.ok ? {} : base.errors;
  if (!base.ok || Object.keys(errors).length > 0 || recovery === undefined) {
    return { ok: false, errors: { ...shared, recovery: errors } };
  }
  const { settings } = base;
  return {
    ok: true,
    edit: {
      vmIds: settings.vmIds,
      name: settings.name,
      journal: settings.journal,
      checkpointIntervalMs: settings.checkpointIntervalMs,
      rpoTargetSeconds: settings.rpoTargetSeconds,
      recovery,
    },
  };
}

function integer(text: string, key: string, errors: Record<string, string>): number {
  const value = text.trim() === '' ? 0 : Number(text);
  if (!Number.isInteger(value)) errors[key] = 'Enter a whole number';
  return value;
}

function ipOf(f: NicForm, prefixKey: string, errors: Record<string, string>): IpSettings {
  if (f.ipMode !== 'static') return { mode: f.ipMode };
  const prefixLength = Number(f.prefixLength);
  if (!Number.isInteger(prefixLength)) errors[prefixKey] = 'Enter a prefix length, e.g. 24';
  const dns = f.dns.split(/[\s,]+/).filter((d) => d !== '');
  return {
    mode: 'static',
    address: f.address.trim(),
    prefixLength,
    ...(f.gateway.trim() !== '' && { gateway: f.gateway.trim() }),
    dns,
  };
}

/** ['vms', i, kind, j, 'ip', 'address'] → the key of that field in the form. */
function keyOfPath(
  path: readonly PropertyKey[],
  where: readonly { vmId: string; nics: Record<FailoverKind, string[]> }[],
): string | undefined {
  const [, i, kind, j, ...rest] = path;
  const at = where[Number(i)];
  if (at === undefined) return undefined;
  if (kind !== 'live' && kind !== 'test') return recoveryKey(at.vmId, String(kind ?? 'bootGroup'));
  const nicName = at.nics[kind][Number(j)];
  if (nicName === undefined) return undefined;
  const field = rest[0] === 'ip' ? String(rest[1] ?? 'address') : String(rest[0] ?? 'network');
  return recoveryKey(at.vmId, field === 'nicName' ? 'network' : field, { kind, nicName });
}

function capitalize(text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1);
}

/** One line of the diff shown before saving. */
export interface EditChange {
  readonly what: string;
  readonly before: string;
  readonly after: string;
}

/** The plan in words, setting by setting, for the admin to check before saving. */
export function describeEdit(
  vpg: Vpg,
  plan: VpgEditPlan,
  vmName: (vmId: string) => string,
): EditChange[] {
  const changes: EditChange[] = [];
  for (const id of plan.removeVmIds)
    changes.push({ what: `VM ${vmName(id)}`, before: 'Protected', after: 'Removed' });
  for (const id of plan.addVmIds)
    changes.push({ what: `VM ${vmName(id)}`, before: 'Not in the VPG', after: 'Added' });
  const p = plan.patch;
  if (p === undefined) return changes;
  const add = (what: string, before: string, after: string): void => {
    if (before !== after) changes.push({ what, before, after });
  };
  if (p.name !== undefined) add('Name', vpg.name, p.name);
  if (p.rpoTargetSeconds !== undefined)
    add('RPO target', formatDuration(vpg.rpoTargetSeconds), formatDuration(p.rpoTargetSeconds));
  if (p.checkpointIntervalMs !== undefined)
    add(
      'Checkpoint interval',
      formatDuration(vpg.checkpointIntervalMs / 1000),
      formatDuration(p.checkpointIntervalMs / 1000),
    );
  if (p.journal !== undefined) {
    const j = vpg.journal;
    add(
      'Journal history',
      formatDuration(j.historySeconds),
      formatDuration(p.journal.historySeconds),
    );
    add('Journal hard limit', formatSize(j.hardLimitBytes), formatSize(p.journal.hardLimitBytes));
    add('Journal warning', formatSize(j.warningBytes), formatSize(p.journal.warningBytes));
  }
  if (p.recovery !== undefined) {
    const wanted = [...vpg.vmIds.filter((id) => !plan.removeVmIds.includes(id)), ...plan.addVmIds];
    const before = normalRecovery(vpg.recovery, vpg.vmIds);
    for (const vmId of wanted) {
      const was = before.vms.find((v) => v.vmId === vmId);
      const now = p.recovery.vms.find((v) => v.vmId === vmId);
      const name = vmName(vmId);
      add(`${name}: boot`, bootText(was), bootText(now));
      add(`${name}: live network`, mappingsText(was?.live), mappingsText(now?.live));
      add(`${name}: test network`, mappingsText(was?.test), mappingsText(now?.test));
    }
  }
  return changes;
}

function bootText(entry: { bootGroup: number; bootDelaySeconds: number } | undefined): string {
  const group = entry?.bootGroup ?? 0;
  const delay = entry?.bootDelaySeconds ?? 0;
  return `Group ${group}${delay > 0 ? `, then ${formatDuration(delay)}` : ''}`;
}

function mappingsText(mappings: readonly NicMapping[] | undefined): string {
  if (mappings === undefined || mappings.length === 0) return 'Default';
  return mappings.map((m) => `${m.nicName} → ${m.network}, ${ipText(m.ip)}`).join('; ');
}

/** An IP setting in words ("10.0.0.5/24 via 10.0.0.1"). */
export function ipText(ip: IpSettings): string {
  if (ip.mode === 'keep') return 'address kept';
  if (ip.mode === 'dhcp') return 'DHCP';
  const via = ip.gateway === undefined ? '' : ` via ${ip.gateway}`;
  const dns = ip.dns.length === 0 ? '' : `, DNS ${ip.dns.join(', ')}`;
  return `${ip.address}/${ip.prefixLength}${via}${dns}`;
}
