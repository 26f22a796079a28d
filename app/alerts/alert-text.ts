import type { Alert } from './alert-schemas';
import { formatDuration } from '../units/duration';

/**
 * The words of a desktop notification for a raised alert, one definition for both shells
 * (Electron's main process and the browser's Notification API).
 */
export interface AlertNotificationText {
  readonly title: string;
  readonly body: string;
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
    alert.rpoTargetSeconds === undefined ? undefined : formatDuration(alert.rpoTargetSeconds);
  const timeframe = alert.timeframeName === undefined ? '' : ` (${alert.timeframeName})`;
  const rpo =
    alert.worstRpoSeconds === undefined
      ? `RPO unknown (no checkpoint at the recovery site yet)${target === undefined ? '' : `, target ${target}`}`
      : `RPO ${formatDuration(alert.worstRpoSeconds)}${target === undefined ? '' : ` over target ${target}`}`;
  return { title: `RPO alert: ${alert.vpgName}`, body: `${rpo}${timeframe}` };
}
