const GIB = 1024 ** 3;

/** Bytes as GiB for an admin: "40 GiB", "1.5 GiB", "0.25 GiB"; TiB from 1024 GiB. */
export function formatBytes(bytes: number): string {
  const gib = bytes / GIB;
  if (gib >= 1024) return `${trim(gib / 1024)} TiB`;
  return `${trim(gib)} GiB`;
}

export function formatMiB(mib: number): string {
  return formatBytes(mib * 1024 * 1024);
}

function trim(value: number): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return Number(value.toFixed(digits)).toString();
}

/** A 32-pair SHA-256 fingerprint as lines of 8 pairs, easy to compare by eye. */
export function fingerprintLines(fingerprint: string, pairsPerLine = 8): string[] {
  const pairs = fingerprint.split(':');
  const lines: string[] = [];
  for (let i = 0; i < pairs.length; i += pairsPerLine)
    lines.push(pairs.slice(i, i + pairsPerLine).join(':'));
  return lines;
}

export function pluralize(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** "12 s", "3 min" until a future epoch-ms time. */
export function formatCountdown(untilMs: number, nowMs: number): string {
  const seconds = Math.max(0, Math.ceil((untilMs - nowMs) / 1000));
  return seconds < 60 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

export function formatDate(value: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** An epoch-ms time as an admin reads it: "3 May 2026, 14:02". */
export function formatTime(epochMs: number): string {
  return new Date(epochMs).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** How the console names a hypervisor kind (hosts and their VMs). */
export const HYPERVISOR_NAMES: Readonly<Record<'sim' | 'libvirt', string>> = {
  sim: 'Simulated',
  libvirt: 'libvirt / KVM',
};
