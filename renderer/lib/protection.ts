import type {
  EstateSnapshot,
  ProtectionTick,
  SiteView,
  VpgView,
} from '../../app/protocol/console-api';
import { rpoMet } from '../../app/vpg/rpo';
import type { VpgStatus } from '../../app/vpg/vpg-schemas';
import { formatDuration } from '../../app/units/duration';

/** ok: under 80 % of the target; near: up to the target; over: past it; unknown: no RPO yet. */
export type RpoLevel = 'ok' | 'near' | 'over' | 'unknown';

export const NEAR_SHARE = 0.8;

export function rpoLevel(rpoSeconds: number | undefined, targetSeconds: number): RpoLevel {
  if (rpoSeconds === undefined) return 'unknown';
  if (rpoSeconds > targetSeconds) return 'over';
  return rpoSeconds > targetSeconds * NEAR_SHARE ? 'near' : 'ok';
}

export { formatDuration };

/** "RPO 6 s / target 30 s", or "RPO — / target 30 s" before the first confirmed checkpoint. */
export function rpoText(rpoSeconds: number | undefined, targetSeconds: number): string {
  const rpo = rpoSeconds === undefined ? '—' : formatDuration(rpoSeconds);
  return `RPO ${rpo} / target ${formatDuration(targetSeconds)}`;
}

/** Throughput in decimal megabytes per second: "0 MB/s", "0.42 MB/s", "3.1 MB/s", "120 MB/s". */
export function formatRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / 1e6;
  if (mb === 0) return '0 MB/s';
  const digits = mb >= 100 ? 0 : mb >= 1 ? 1 : 2;
  return `${Number(mb.toFixed(digits))} MB/s`;
}

/** Binary sizes: "0 B", "512 B", "12 KiB", "3.4 MiB", "20 GiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))} ${units[unit]}`;
}

export type JournalLevel = 'ok' | 'warning' | 'full';

/** Journal use against its hard limit: percent (0–100) and whether past the warning. */
export function journalUse(
  journalBytes: number,
  hardLimitBytes: number,
  warningBytes: number,
): { percent: number; level: JournalLevel } {
  const percent = hardLimitBytes > 0 ? Math.min(100, (journalBytes / hardLimitBytes) * 100) : 0;
  const level: JournalLevel =
    journalBytes >= hardLimitBytes * 0.98
      ? 'full'
      : journalBytes >= warningBytes
        ? 'warning'
        : 'ok';
  return { percent, level };
}

/** A tick this old (ms) no longer counts as live. */
export const TICK_STALE_MS = 5_000;

/** What the list and the detail show of a VPG: the latest fresh tick over the listed state. */
export interface LiveFigures {
  readonly status: VpgStatus;
  readonly rpoSeconds: number | undefined;
  readonly rpoTargetSeconds: number;
  /** undefined when no fresh tick says. */
  readonly writtenBytesPerSecond: number | undefined;
  readonly sentBytesPerSecond: number | undefined;
  readonly backlogBytes: number;
  readonly journalBytes: number;
  readonly journalHardLimitBytes: number;
  /** A tick arrived in the last TICK_STALE_MS. */
  readonly live: boolean;
}

export function liveFigures(
  vpg: VpgView,
  tick: ProtectionTick | undefined,
  receivedAt: number | undefined,
  now: number,
): LiveFigures {
  const fresh = tick !== undefined && receivedAt !== undefined && now - receivedAt <= TICK_STALE_MS;
  if (!fresh) {
    return {
      status: vpg.status,
      rpoSeconds: vpg.rpoSeconds,
      rpoTargetSeconds: vpg.rpoTargetSeconds,
      writtenBytesPerSecond: undefined,
      sentBytesPerSecond: undefined,
      backlogBytes: vpg.backlogBytes,
      journalBytes: vpg.journalBytes,
      journalHardLimitBytes: vpg.journal.hardLimitBytes,
      live: false,
    };
  }
  return {
    status: tick.status,
    rpoSeconds: tick.rpoSeconds,
    rpoTargetSeconds: tick.rpoTargetSeconds,
    writtenBytesPerSecond: tick.writtenBytesPerSecond,
    sentBytesPerSecond: tick.sentBytesPerSecond,
    backlogBytes: tick.backlogBytes,
    journalBytes: tick.journalBytes,
    journalHardLimitBytes: tick.journalHardLimitBytes,
    live: true,
  };
}

export type ChipColor =
  'default' | 'primary' | 'secondary' | 'success' | 'warning' | 'error' | 'info';

/** How each VPG status reads: label and chip colour (RpoNotMet and Error in red). */
export const VPG_STATUS: Readonly<Record<VpgStatus, { label: string; color: ChipColor }>> = {
  Initializing: { label: 'Initializing', color: 'info' },
  Seeding: { label: 'Seeding', color: 'info' },
  Protecting: { label: 'Protecting', color: 'success' },
  RpoNotMet: { label: 'RPO not met', color: 'error' },
  Paused: { label: 'Paused', color: 'warning' },
  Resyncing: { label: 'Resyncing', color: 'warning' },
  TestFailover: { label: 'Test failover', color: 'secondary' },
  FailingOver: { label: 'Failing over', color: 'warning' },
  Promoting: { label: 'Promoting', color: 'warning' },
  PromotionCompleteMirrorsNotYetActivated: { label: 'Reverse protection starting', color: 'info' },
  NeedReverseConfiguration: { label: 'Needs reverse protection', color: 'warning' },
  MissingConfiguration: { label: 'Missing configuration', color: 'error' },
  RemoveInProgress: { label: 'Removing', color: 'default' },
  Error: { label: 'Error', color: 'error' },
};

export function siteName(snapshot: EstateSnapshot | undefined, siteId: string): string {
  return snapshot?.sites.find((s) => s.siteId === siteId)?.name ?? siteId;
}

/** The sites a site is paired with (recovery site candidates), by name. */
export function pairedSites(snapshot: EstateSnapshot, siteId: string): SiteView[] {
  const ids = new Set<string>();
  for (const p of snapshot.pairings) {
    if (p.siteId === siteId) ids.add(p.peerSiteId);
    else if (p.peerSiteId === siteId) ids.add(p.siteId);
  }
  return snapshot.sites.filter((s) => ids.has(s.siteId));
}

/** Sites that could protect VMs: known, and paired with at least one other site. */
export function protectableSites(snapshot: EstateSnapshot): SiteView[] {
  return snapshot.sites.filter((s) => pairedSites(snapshot, s.siteId).length > 0);
}

/** The VPG (by name) a VM of a site already belongs to, if any. */
export function vpgOfVm(
  vpgs: readonly VpgView[],
  siteId: string,
  vmId: string,
): VpgView | undefined {
  return vpgs.find((v) => v.protectedSiteId === siteId && v.vmIds.includes(vmId));
}

/** Whether live figures show the RPO met (known and within the target). */
export function rpoMetNow(f: Pick<LiveFigures, 'rpoSeconds' | 'rpoTargetSeconds'>): boolean {
  return rpoMet(f.rpoSeconds, f.rpoTargetSeconds);
}

/** Why no VPG can be created, or undefined when one can (two paired sites). */
export function newVpgBlocker(snapshot: EstateSnapshot | undefined): string | undefined {
  if (snapshot === undefined) return 'Loading the estate…';
  if (snapshot.pairings.length === 0)
    return 'Pair a protected site with a recovery site first (Estate → Pair sites).';
  return undefined;
}

/** A checkpoint's source time to the second: "3 May 2026, 14:02:05". */
export function formatSourceTime(epochMs: number): string {
  return new Date(epochMs).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}
