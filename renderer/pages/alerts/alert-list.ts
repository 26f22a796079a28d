import type { AlertKind } from '../../../app/alerts/alert-schemas';
import type { AlertsChanged, ConsoleAlert } from '../../../app/protocol/console-api';

/** One alert per agent and id. */
export const alertKey = (a: Pick<ConsoleAlert, 'agentKey' | 'alertId'>): string =>
  `${a.agentKey}/${a.alertId}`;

export type AlertMap = Readonly<Record<string, ConsoleAlert>>;

/** The alerts after an alerts.changed: one alert replaced, or an agent's alerts as a whole. */
export function applyAlertsChange(alerts: AlertMap, change: AlertsChanged): AlertMap {
  if (change.change !== 'agent') return { ...alerts, [alertKey(change.alert)]: change.alert };
  const next: Record<string, ConsoleAlert> = {};
  for (const [key, alert] of Object.entries(alerts)) {
    if (alert.agentKey !== change.agentKey) next[key] = alert;
  }
  for (const alert of change.alerts) next[alertKey(alert)] = alert;
  return next;
}

export function toAlertMap(alerts: readonly ConsoleAlert[]): AlertMap {
  return Object.fromEntries(alerts.map((a) => [alertKey(a), a]));
}

export interface AlertFilters {
  readonly state: 'all' | 'raised' | 'cleared';
  readonly acknowledged: 'all' | 'no' | 'yes';
  /** A VPG id, or '' for all. */
  readonly vpgId: string;
  /** A site id, or '' for all. */
  readonly siteId: string;
  /** Words to find in the VPG, site, timeframe or message (case-insensitive). */
  readonly text: string;
}

export const NO_FILTERS: AlertFilters = {
  state: 'all',
  acknowledged: 'all',
  vpgId: '',
  siteId: '',
  text: '',
};

export const isFiltered = (f: AlertFilters): boolean =>
  f.state !== 'all' ||
  f.acknowledged !== 'all' ||
  f.vpgId !== '' ||
  f.siteId !== '' ||
  f.text.trim() !== '';

/** The alerts the filters let through, newest first. */
export function filterAlerts(
  alerts: AlertMap,
  filters: AlertFilters,
  siteName: (siteId: string) => string,
): ConsoleAlert[] {
  const words = filters.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  return Object.values(alerts)
    .filter((a) => {
      if (filters.state === 'raised' && a.clearedAt !== undefined) return false;
      if (filters.state === 'cleared' && a.clearedAt === undefined) return false;
      if (filters.acknowledged === 'no' && a.acknowledgedAt !== undefined) return false;
      if (filters.acknowledged === 'yes' && a.acknowledgedAt === undefined) return false;
      if (filters.vpgId !== '' && a.vpgId !== filters.vpgId) return false;
      if (filters.siteId !== '' && a.siteId !== filters.siteId) return false;
      if (words.length === 0) return true;
      const haystack = [
        a.vpgName,
        siteName(a.siteId),
        a.timeframeName ?? '',
        KIND_LABEL[a.kind],
        a.message,
      ]
        .join(' ')
        .toLowerCase();
      return words.every((w) => haystack.includes(w));
    })
    .sort((a, b) => b.raisedAt - a.raisedAt);
}

/** What the nav badge counts: raised and nobody has acknowledged them yet. */
export function unacknowledgedRaised(alerts: AlertMap): number {
  let n = 0;
  for (const a of Object.values(alerts))
    if (a.clearedAt === undefined && a.acknowledgedAt === undefined) n += 1;
  return n;
}

/** The VPGs that have alerts, by name, for the VPG filter. */
export function alertVpgs(alerts: AlertMap): { vpgId: string; name: string }[] {
  const byId = new Map<string, string>();
  for (const a of Object.values(alerts)) byId.set(a.vpgId, a.vpgName);
  return [...byId]
    .map(([vpgId, name]) => ({ vpgId, name }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const KIND_LABEL: Readonly<Record<AlertKind, string>> = {
  rpo: 'RPO',
  'journal-history-reduced': 'Journal history reduced',
  'journal-size-warning': 'Journal size warning',
  'disk-full': 'Disk full',
};

/** An epoch-ms time in the admin's locale: the time to the second, and the date apart. */
export function formatAlertTime(epochMs: number): { time: string; date: string } {
  const at = new Date(epochMs);
  return {
    time: at.toLocaleTimeString(undefined, { timeStyle: 'medium' }),
    date: at.toLocaleDateString(undefined, { dateStyle: 'medium' }),
  };
}
