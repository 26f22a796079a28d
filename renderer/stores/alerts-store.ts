import { create } from 'zustand';
import { rpoAlertNotification } from '../../app/alerts/alert-text';
import type { ConsoleAlert, ErrorView } from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';
import {
  browserNotifications,
  showBrowserNotification,
  type DesktopNotifications,
} from '../lib/desktop-notify';
import {
  NO_FILTERS,
  alertKey,
  applyAlertsChange,
  toAlertMap,
  type AlertFilters,
  type AlertMap,
} from '../pages/alerts/alert-list';

interface AlertsStore {
  readonly alerts: AlertMap;
  readonly loaded: boolean;
  readonly loadError: ErrorView | undefined;
  readonly filters: AlertFilters;
  /** Acknowledgements under way, by alertKey. */
  readonly acking: Readonly<Record<string, true>>;
  readonly ackError: { readonly key: string; readonly error: ErrorView } | undefined;
  readonly notifications: DesktopNotifications;
  /** Bumped when the admin clicks a desktop notification: the app shows the Alerts page. */
  readonly openRequests: number;
  /** Follows alerts.changed (a desktop notification for each raised RPO alert), and loads alerts.list whenever the console link opens. */
  start(): Unsubscribe;
  load(): Promise<void>;
  ack(alert: ConsoleAlert): Promise<void>;
  dismissAckError(): void;
  setFilters(patch: Partial<AlertFilters>): void;
  clearFilters(): void;
  /** Asks the browser for permission; call it from a click (browsers ignore it otherwise). */
  enableNotifications(): Promise<void>;
}

/** The alerts of the connected agents, the page's filters, and desktop notifications. */
export const useAlertsStore = create<AlertsStore>()((set, get) => {
  const notify = (alert: ConsoleAlert): void => {
    const text = rpoAlertNotification(alert);
    if (text === undefined) return;
    showBrowserNotification(text, alertKey(alert), () =>
      set((s) => ({ openRequests: s.openRequests + 1 })),
    );
  };

  return {
    alerts: {},
    loaded: false,
    loadError: undefined,
    filters: NO_FILTERS,
    acking: {},
    ackError: undefined,
    notifications: 'unsupported',
    openRequests: 0,

    start() {
      const connection = consoleConnection();
      set({ notifications: browserNotifications() });
      const stopChanges = connection.api.on('alerts.changed', (change) => {
        set((s) => ({ alerts: applyAlertsChange(s.alerts, change) }));
        if (change.change === 'raised') notify(change.alert);
      });
      const stopStatus = connection.onStatus((status) => {
        if (status.state === 'open') void get().load();
      });
      if (connection.status().state === 'open') void get().load();
      return () => {
        stopChanges();
        stopStatus();
      };
    },

    async load() {
      const outcome = await attempt(() => consoleConnection().api.alerts.list());
      if (outcome.ok)
        set({ alerts: toAlertMap(outcome.value.alerts), loaded: true, loadError: undefined });
      else set({ loadError: outcome.error });
    },

    async ack(alert) {
      const key = alertKey(alert);
      if (get().acking[key]) return;
      set((s) => ({ acking: { ...s.acking, [key]: true }, ackError: undefined }));
      const outcome = await attempt(() =>
        consoleConnection().api.alerts.ack({ agentKey: alert.agentKey, alertId: alert.alertId }),
      );
      set((s) => {
        const acking = { ...s.acking };
        delete acking[key];
        if (!outcome.ok) return { acking, ackError: { key, error: outcome.error } };
        return { acking, alerts: { ...s.alerts, [key]: outcome.value } };
      });
    },
    dismissAckError: () => set({ ackError: undefined }),

    setFilters: (patch) => set((s) => ({ filters: { ...s.filters, ...patch } })),
    clearFilters: () => set({ filters: NO_FILTERS }),

    async enableNotifications() {
      if (browserNotifications() !== 'default') return;
      const permission = await Notification.requestPermission();
      set({ notifications: permission });
    },
  };
});
