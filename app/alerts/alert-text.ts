import type { Alert } from './alert-schemas';

/**
 * The words of a desktop notification for a raised alert, one definition for both shells
 * (Electron's main process and the browser's Notification API).
 */
export interface AlertNotificationText {
  readonly title: string;
  readonly body: string;
}

/** "6 s", "2 min", "2 min 30 s", "1 h 5 min". */
export function alertDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${rest} s`;
  }
  const h = Math.floor(s / 3600);
  const min = Math.round((s % 3600) / 60);
  return min === 0 ? `${h} h` : `${h} h ${min} min`;
}

/**
 * "RPO alert: Web tier" / "RPO 47 s over target 30 s (Office hours)"; undefined for the
 * other kinds (journal alerts are on the Alerts page, not worth interrupting the admin).
 */
export function rpoAlertNotification(
  alert: Pick<Alert, 'kind' | 'vpgName' | 'worstRpoSeconds' | 'rpoTargetSeconds' | 'timeframeName'>,
): AlertNotificationText | undefined {
  if (alert.kind !== 'rpo') return undefined;
  const target =
    alert.rpoTargetSeconds === undefined ? undefined : alertDuration(alert.rpoTargetSeconds);
  const timeframe = alert.timeframeName === undefined ? '' : ` (${alert.timeframeName})`;
  const rpo =
    alert.worstRpoSeconds === undefined
      ? `RPO unknown (no checkpoint at the recovery site yet)${target === undefined ? '' : `, target ${target}`}`
      : `RPO ${alertDuration(alert.worstRpoSeconds)}${target === undefined ? '' : ` over target ${target}`}`;
  return { title: `RPO alert: ${alert.vpgName}`, body: `${rpo}${timeframe}` };
}
