import type { ConsoleApi } from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';

/**
 * The renderer's link to the console core. In Electron it is always up (IPC); in browser
 * mode it is a WebSocket that can drop and come back.
 *
 * connecting: first attempt under way; open: calls go through;
 * lost: the socket dropped, the next attempt is at nextRetryAt (back-off).
 */
export type ConnectionState = 'connecting' | 'open' | 'lost';

export interface ConnectionStatus {
  readonly state: ConnectionState;
  /** Failed attempts since the link was last open. */
  readonly attempt: number;
  /** Epoch ms of the next attempt while lost. */
  readonly nextRetryAt?: number;
}

export interface ConsoleConnection {
  readonly mode: 'electron' | 'browser';
  readonly api: ConsoleApi;
  status(): ConnectionStatus;
  /** Called on every status change; returns an unsubscribe. */
  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe;
  /** Skips the back-off wait and tries to connect now. */
  retryNow(): void;
}
