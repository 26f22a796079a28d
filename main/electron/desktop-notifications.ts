import { Notification, type BrowserWindow } from 'electron';
import type { EventEmitter } from 'node:events';
import { rpoAlertNotification } from '../../app/alerts/alert-text';
import type { AlertsChanged, ConsoleEventMap, ProtectionTask } from '../../app/protocol';
import { taskEndedNotification, watchLongTaskEnds } from '../../app/task/task-text';
import type { Logger } from '../services/util/log';

/**
 * In the Electron shell desktop notifications come from the main process (it works with the
 * window hidden; the renderer's Notification is refused by the session's permission handler,
 * and the renderer leaves it to this one in 'electron' mode): a raised RPO alert, and the end
 * of a long task (sync, export, failover) while the window is not focused. A click brings the
 * console window forward. Returns a function that stops it.
 */
export function notifyOnDesktop(
  events: EventEmitter<ConsoleEventMap>,
  win: BrowserWindow,
  logger: Logger,
  vpgName: (vpgId: string) => string | undefined,
): () => void {
  const show = (text: { title: string; body: string }, context: object): void => {
    if (!Notification.isSupported()) return;
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
      logger.warn({ err, ...context }, 'could not show a desktop notification');
    }
  };
  const onAlert = (change: AlertsChanged): void => {
    if (change.change !== 'raised') return;
    const text = rpoAlertNotification(change.alert);
    if (text !== undefined) show(text, { alertId: change.alert.alertId });
  };
  const endsLongTask = watchLongTaskEnds();
  const onTask = (task: ProtectionTask): void => {
    if (!endsLongTask(`${task.agentKey}/${task.taskId}`, task)) return;
    if (win.isDestroyed() || win.isFocused()) return;
    const name = task.vpgId === undefined ? undefined : vpgName(task.vpgId);
    show(taskEndedNotification(task, name), { taskId: task.taskId });
  };
  events.on('alerts.changed', onAlert);
  events.on('protection.task', onTask);
  return () => {
    events.off('alerts.changed', onAlert);
    events.off('protection.task', onTask);
  };
}
