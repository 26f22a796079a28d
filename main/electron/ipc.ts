import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import { toTidelineError } from '../../app/errors';
import {
  Dispatcher,
  consoleMethods,
  ipcChannel,
  ipcEventChannel,
  type BridgeEnvelope,
  type ConsoleMethods,
} from '../../app/protocol';
import { forwardEvents } from '../services/console-events';
import type { ConsoleService } from '../web/api-socket';
import type { Logger } from '../services/util/log';
import { isAppUrl } from './app-protocol';

/** Only the console window's main frame, showing the app's own origin, may call the core. */
function trusted(win: BrowserWindow, event: IpcMainInvokeEvent): boolean {
  const frame = event.senderFrame;
  return (
    !win.isDestroyed() &&
    event.sender === win.webContents &&
    frame !== null &&
    frame === win.webContents.mainFrame &&
    isAppUrl(frame.url)
  );
}

/**
 * One ipcMain.handle per ConsoleApi method (channels from the table), each call validated by
 * the same Dispatcher as browser mode, answers as BridgeEnvelopes; the notifications
 * (estate.changed, protection.tick) are forwarded to the window.
 * Returns a function that unregisters everything.
 */
export function registerConsoleIpc(
  core: ConsoleService,
  win: BrowserWindow,
  logger: Logger,
): () => void {
  const names = Object.keys(consoleMethods) as (keyof ConsoleMethods & string)[];
  const dispatcher = new Dispatcher(consoleMethods, core.handlers, {
    onInternalError: (err, method) => logger.error({ err, method }, 'IPC handler failed'),
  });
  for (const name of names) {
    ipcMain.handle(ipcChannel(name), async (event, params: unknown): Promise<BridgeEnvelope> => {
      if (!trusted(win, event)) {
        logger.warn(
          { method: name, url: event.senderFrame?.url },
          'IPC from an untrusted frame refused',
        );
        return {
          ok: false,
          error: { code: 'UNAUTHORIZED', message: 'Refused: not the console window' },
        };
      }
      try {
        return { ok: true, result: await dispatcher.invoke(name, params, { transport: 'ipc' }) };
      } catch (err) {
        return { ok: false, error: toTidelineError(err).toJSON() };
      }
    });
  }
  const stopEvents = forwardEvents(core.events, (event, params) => {
    if (!win.isDestroyed()) win.webContents.send(ipcEventChannel(event), params);
  });
  return () => {
    for (const name of names) ipcMain.removeHandler(ipcChannel(name));
    stopEvents();
  };
}
