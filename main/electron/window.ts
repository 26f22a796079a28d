import { BrowserWindow, type WebContents } from 'electron';
import { drop } from '../services/util/drop';
import type { Logger } from '../services/util/log';

/** The console window: sandboxed, isolated, no Node, no navigation away, no new windows. */
export function createMainWindow(opts: {
  preload: string;
  url: string;
  logger: Logger;
}): BrowserWindow {
  const win = new BrowserWindow({
    width: 1360,
    height: 860,
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'Tideline',
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  drop(win.loadURL(opts.url), (err) => opts.logger.error({ err }, 'could not load the console UI'));
  return win;
}

/** Applied to every WebContents the app creates (app 'web-contents-created'). */
export function hardenWebContents(contents: WebContents): void {
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}
