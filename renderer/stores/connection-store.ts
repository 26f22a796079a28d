import { create } from 'zustand';
import type { ConsoleInfo } from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { consoleConnection, type ConnectionStatus } from '../api';
import { attempt } from '../lib/errors';

interface ConnectionStore {
  readonly mode: 'electron' | 'browser' | undefined;
  readonly status: ConnectionStatus;
  /** The console core's version and shell, once known. */
  readonly info: ConsoleInfo | undefined;
  /** Follows the console link's status; returns the unsubscribe. */
  start(): Unsubscribe;
  retryNow(): void;
}

export const useConnectionStore = create<ConnectionStore>()((set, get) => ({
  mode: undefined,
  status: { state: 'connecting', attempt: 0 },
  info: undefined,
  start() {
    const connection = consoleConnection();
    const loadInfo = async (): Promise<void> => {
      if (get().info !== undefined) return;
      const outcome = await attempt(() => connection.api.console.info());
      if (outcome.ok) set({ info: outcome.value });
    };
    set({ mode: connection.mode, status: connection.status() });
    if (connection.status().state === 'open') void loadInfo();
    return connection.onStatus((status) => {
      set({ status });
      if (status.state === 'open') void loadInfo();
    });
  },
  retryNow() {
    consoleConnection().retryNow();
  },
}));

export const selectIsOpen = (s: ConnectionStore): boolean => s.status.state === 'open';
/** The link dropped (or the first attempts keep failing): show the reconnecting banner. */
export const selectIsReconnecting = (s: ConnectionStore): boolean =>
  s.status.state === 'lost' || (s.status.state === 'connecting' && s.status.attempt > 0);
