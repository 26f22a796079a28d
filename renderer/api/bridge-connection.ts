import {
  BRIDGE_GLOBAL,
  consoleApiFromBridge,
  type TidelineBridge,
} from '../../app/protocol/console-bridge';
import type { ConnectionStatus, ConsoleConnection } from './connection';

const OPEN: ConnectionStatus = { state: 'open', attempt: 0 };

/** The bridge the Electron preload exposed with contextBridge, if this is Electron. */
export function findBridge(): TidelineBridge | undefined {
  const candidate: unknown = Reflect.get(window, BRIDGE_GLOBAL);
  return candidate !== null && typeof candidate === 'object'
    ? (candidate as TidelineBridge)
    : undefined;
}

/** Electron: IPC through the preload never drops while the window lives. */
export function bridgeConnection(bridge: TidelineBridge): ConsoleConnection {
  return {
    mode: 'electron',
    api: consoleApiFromBridge(bridge),
    status: () => OPEN,
    onStatus: () => () => undefined,
    retryNow: () => undefined,
  };
}
