import type { EventEmitter } from 'node:events';
import {
  consoleNotifications,
  type ConsoleEventMap,
  type ConsoleNotifications,
} from '../../app/protocol';

/** Every notification of the ConsoleApi table: the core's events of the same names. */
export const CONSOLE_EVENTS = Object.keys(consoleNotifications) as (keyof ConsoleNotifications)[];

/**
 * Calls `send(event, params)` for every core event; returns a function that stops it. Both
 * transports (browser mode's WebSocket, Electron's IPC) forward each notification of the
 * table this way, so a new notification needs no change there.
 */
export function forwardEvents(
  events: EventEmitter<ConsoleEventMap>,
  send: (event: keyof ConsoleNotifications, params: unknown) => void,
): () => void {
  const stops = CONSOLE_EVENTS.map((event) => {
    const listener = (params: ConsoleEventMap[typeof event][0]): void => send(event, params);
    events.on(event, listener);
    return () => events.off(event, listener);
  });
  return () => {
    for (const stop of stops) stop();
  };
}
