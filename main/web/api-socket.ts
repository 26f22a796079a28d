import type { EventEmitter } from 'node:events';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { TidelineError } from '../../app/errors';
import {
  Dispatcher,
  MAX_FRAME_BYTES,
  MAX_REQUEST_BYTES,
  consoleMethods,
  consoleNotifications,
  encodeNotification,
  failure,
  type ConsoleEventMap,
  type ConsoleMethods,
  type Handlers,
  type NotificationTable,
} from '../../app/protocol';
import { forwardEvents } from '../services/console-events';
import { drop } from '../services/util/drop';
import type { Logger } from '../services/util/log';

/** What browser mode needs of the console core. */
export interface ConsoleService {
  readonly handlers: Handlers<ConsoleMethods, unknown>;
  readonly events: EventEmitter<ConsoleEventMap>;
}

/**
 * The ConsoleApi over WebSocket: JSON-RPC 2.0 through the app's Dispatcher (schemas checked,
 * -32602 with the path), plus the notifications (estate.changed, protection.tick) pushed to
 * every connected page.
 */
export function createApiSocketServer(core: ConsoleService, logger: Logger): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  const dispatcher = new Dispatcher(consoleMethods, core.handlers, {
    onInternalError: (err, method) => logger.error({ err, method }, 'console API internal error'),
  });
  wss.on('connection', (ws: WebSocket) => {
    const stop = forwardEvents(core.events, (event, params) => {
      if (ws.readyState === ws.OPEN)
        ws.send(encodeNotification<NotificationTable, string>(consoleNotifications, event, params));
    });
    ws.on('close', stop);
    ws.on('error', (err) => logger.debug({ reason: err.message }, 'console API socket error'));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = Buffer.isBuffer(data)
        ? data
        : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
      if (isBinary || text.length > MAX_REQUEST_BYTES) {
        const err = isBinary
          ? new TidelineError('INVALID_REQUEST', 'Binary frames are not part of the console API')
          : new TidelineError(
              'FRAME_TOO_LARGE',
              `Requests are limited to ${MAX_REQUEST_BYTES} bytes`,
            );
        ws.send(JSON.stringify(failure(null, err)));
        return;
      }
      drop(
        dispatcher.handleText(text.toString('utf8'), undefined).then((out) => {
          if (out !== undefined && ws.readyState === ws.OPEN) ws.send(out);
        }),
        (err) => logger.error({ err }, 'console API dispatch failed'),
      );
    });
  });
  return wss;
}
