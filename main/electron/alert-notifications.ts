import { Notification, type BrowserWindow } from 'electron';
import type { EventEmitter } from 'node:events';
import { rpoAlertNotification } from '../../app/alerts/alert-text';
import type { AlertsChanged, ConsoleEventMap } from '../../app/protocol';
import type { Logger } from '../services/util/log';

/**
 * In the Electron shell the desktop notification of a raised RPO alert comes from the main
 * process (it works with the window hidden; the renderer's Notification is refused by the
 * session's permission handler, and the renderer leaves it to this one in 'electron' mode).
 * A click brings the console window forward. Returns a function that stops it.
 */
export function notifyRaisedAlerts(
  events: EventEmitter<ConsoleEventMap>,
  win: BrowserWindow,
  logger: Logger,
): () => void {
  const listener = (change: AlertsChanged): void => {
    if (change.change !== 'raised' || !Notification.isSupported()) return;
    const text = rpoAlertNotification(change.alert);
    if (text === undefined) return;
    try {
      const notification = new Notification({ title: text.title, body: text.body });
      notification.on('click', () => {
        if (win.isDestroyed()) return;
        if (win.isMinimized()) win.restore();
        win.show();
        win.focus();
      });
      notification.show();
    } catch (err) {
      logger.warn({ err, alertId: change.alert.alertId }, 'could not show a desktop notification');
    }
  };
  events.on('alerts.changed', listener);
  return () => events.off('alerts.changed', listener);
}
