import type { EstateSnapshot } from '../../app/protocol/console-api';
import type { HypervisorKind } from '../../app/protocol/inventory';
import { changeTotals, searchableCheckpoints } from '../../app/recovery/clean-point';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import { formatSize, formatSourceTime } from './protection';

/** The pure part of "Find the last clean point" and of the change sparkline: facts, no labels. */

/** A checkpoint as the admin knows it: its name, else its source time. */
export function checkpointText(c: Pick<CheckpointInfo, 'name' | 'sourceTime'>): string {
  return c.name ?? formatSourceTime(c.sourceTime);
}

/** One column of the sparkline: one checkpoint, or several summed where they would crowd. */
export interface ChangeColumn {
  /** The first and last checkpoint summed here (the same one when alone). */
  readonly first: CheckpointInfo;
  readonly last: CheckpointInfo;
  /** Checkpoints summed here; of those, how many had figures. */
  readonly count: number;
  readonly measured: number;
  readonly writtenBytes: number;
  /** 0…1 of the written blocks; undefined when no block was written or nothing was measured. */
  readonly highShare: number | undefined;
  readonly turnedShare: number | undefined;
  readonly partial: boolean;
}

export interface ChangeSeries {
  /** The checkpoints drawn (consistent, at the recovery site), oldest first. */
  readonly checkpoints: readonly CheckpointInfo[];
  readonly columns: readonly ChangeColumn[];
  /** How many checkpoints each column sums. */
  readonly perColumn: number;
  /** Checkpoints with figures (0: "No change figures for these checkpoints"). */
  readonly measured: number;
  readonly maxWrittenBytes: number;
}

/** At most this many columns: one per checkpoint up to it, sums beyond. */
export const MAX_COLUMNS = 160;

/** The figures of a VPG's checkpoints as columns for the sparkline. */
export function changeSeries(
  all: readonly CheckpointInfo[],
  maxColumns = MAX_COLUMNS,
): ChangeSeries {
  const checkpoints = searchableCheckpoints(all);
  const perColumn = Math.max(1, Math.ceil(checkpoints.length / maxColumns));
  const columns: ChangeColumn[] = [];
  for (let i = 0; i < checkpoints.length; i += perColumn) {
    columns.push(column(checkpoints.slice(i, i + perColumn)));
  }
  return {
    checkpoints,
    columns,
    perColumn,
    measured: columns.reduce((sum, c) => sum + c.measured, 0),
    maxWrittenBytes: columns.reduce((max, c) => Math.max(max, c.writtenBytes), 0),
  };
}

function column(group: readonly CheckpointInfo[]): ChangeColumn {
  let measured = 0;
  let writtenBytes = 0;
  let writtenBlocks = 0;
  let high = 0;
  let turned = 0;
  let partial = false;
  for (const c of group) {
    const t = changeTotals(c);
    if (t === undefined) continue;
    measured += 1;
    writtenBytes += t.writtenBytes;
    writtenBlocks += t.writtenBlocks;
    high += t.highEntropyBlocks;
    turned += t.turnedHighBlocks;
    partial ||= t.partial;
  }
  const share = (n: number): number | undefined =>
    writtenBlocks > 0 ? n / writtenBlocks : undefined;
  return {
    first: group[0]!,
    last: group[group.length - 1]!,
    count: group.length,
    measured,
    writtenBytes,
    highShare: share(high),
    turnedShare: share(turned),
    partial,
  };
}

const percent = (share: number | undefined): string =>
  share === undefined ? '—' : `${Math.round(share * 100)}%`;

/** A column's facts for its tooltip: when, how much was written, which shares. */
export function columnText(c: ChangeColumn): string {
  const when =
    c.count === 1
      ? checkpointText(c.first)
      : `${formatSourceTime(c.first.sourceTime)} – ${formatSourceTime(c.last.sourceTime)} (${c.count} checkpoints)`;
  if (c.measured === 0) return `${when} · no change figures`;
  const facts = [
    `written ${formatSize(c.writtenBytes)}`,
    `high-entropy ${percent(c.highShare)}`,
    `turned high ${percent(c.turnedShare)}`,
  ];
  if (c.measured < c.count) facts.push(`${c.count - c.measured} without figures`);
  if (c.partial) facts.push('partly measured (the recovery agent restarted)');
  return `${when} · ${facts.join(' · ')}`;
}

/** One checkpoint's figures in words, or undefined when it has none. */
export function changeText(c: CheckpointInfo): string | undefined {
  const t = changeTotals(c);
  if (t === undefined) return undefined;
  const share = (n: number): number | undefined =>
    t.writtenBlocks > 0 ? n / t.writtenBlocks : undefined;
  return [
    `${formatSize(t.writtenBytes)} written since the checkpoint before`,
    `${percent(share(t.highEntropyBlocks))} of blocks high-entropy`,
    `${percent(share(t.turnedHighBlocks))} turned high`,
    ...(t.partial ? ['partly measured'] : []),
  ].join(' · ');
}

/**
 * Whether a hypervisor can run an admin's command inside a running VM. Neither adapter can
 * today: the sim has no guests, and the libvirt adapter has no guest-agent channel. Kept as a
 * table so the option lights up where an adapter gains it, and never pretends meanwhile.
 */
const RUNS_GUEST_COMMANDS: Readonly<Record<HypervisorKind, boolean>> = {
  sim: false,
  libvirt: false,
};

/** Why a check script cannot run in a site's test VMs, or undefined when it can. */
export function checkScriptBlocker(snapshot: EstateSnapshot, siteId: string): string | undefined {
  const site = snapshot.sites.find((s) => s.siteId === siteId)?.name ?? siteId;
  const kinds = [
    ...new Set(snapshot.hosts.filter((h) => h.siteId === siteId).map((h) => h.hypervisor)),
  ];
  const unable = kinds.filter((k) => !RUNS_GUEST_COMMANDS[k]);
  if (kinds.length === 0) return `No host of ${site} is known: nothing to run a check script on.`;
  if (unable.length === 0) return undefined;
  return `The hypervisor of ${site} (${unable.join(', ')}) cannot run a command in a test VM.`;
}
