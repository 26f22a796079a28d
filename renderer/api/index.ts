import { bridgeConnection, findBridge } from './bridge-connection';
import type { ConsoleConnection } from './connection';
import { SocketConnection, consoleSocketUrl } from './socket-connection';

export type { ConnectionState, ConnectionStatus, ConsoleConnection } from './connection';

let connection: ConsoleConnection | undefined;

/**
 * The one ConsoleApi link of this window: the Electron preload's bridge when there is one,
 * otherwise browser mode's WebSocket. Only store actions use it.
 */
export function consoleConnection(): ConsoleConnection {
  if (connection === undefined) {
    const bridge = findBridge();
    connection = bridge ? bridgeConnection(bridge) : new SocketConnection(consoleSocketUrl());
  }
  return connection;
}

/** For tests and storybook-like harnesses: use a given connection instead. */
export function setConsoleConnection(replacement: ConsoleConnection): void {
  connection = replacement;
}
