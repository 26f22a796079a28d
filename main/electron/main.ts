import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, session } from 'electron';
import { ConsoleCore } from '../services/console-core';
import { parseSeed, readSeedFile, type SeedEntry } from '../services/settings/seed';
import { drop } from '../services/util/drop';
import { createLogger } from '../services/util/log';
import { notifyOnDesktop } from './desktop-notifications';
import { APP_URL, registerAppScheme, serveRenderer } from './app-protocol';
import { registerConsoleIpc } from './ipc';
import { safeStorageSecretBox } from './secrets';
import { openElectronDrafts, openElectronPlanningCache, openElectronSettings } from './settings';
import { createMainWindow, hardenWebContents } from './window';

/**
 * Electron entry (bundled to dist/main/electron.mjs). Env overrides for tests and the demo:
 * TIDELINE_SETTINGS_DIR (default: userData), TIDELINE_SEED (a seed file path, or its JSON).
 */
const here = fileURLToPath(new URL('.', import.meta.url));
const logger = createLogger('tideline-console');

function seedEntries(value: string | undefined): SeedEntry[] {
  if (value === undefined || value.trim() === '') return [];
  return value.trim().startsWith('[') ? parseSeed(value, 'TIDELINE_SEED') : readSeedFile(value);
}

async function start(): Promise<void> {
  const dir = process.env['TIDELINE_SETTINGS_DIR'] || app.getPath('userData');
  const core = new ConsoleCore({
    settings: openElectronSettings(dir, safeStorageSecretBox(logger)),
    drafts: openElectronDrafts(dir, logger),
    planningCache: openElectronPlanningCache(dir, logger),
    mode: 'electron',
    logger,
    // electron-builder.yml's extraResources: the agent packages and the unit template.
    deploy: {
      packagesDir: join(process.resourcesPath, 'agent-packages'),
      unitTemplatePath: join(process.resourcesPath, 'systemd', 'tideline-agent.service'),
    },
  });
  core.seed(seedEntries(process.env['TIDELINE_SEED']));
  core.start();
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) =>
    callback(false),
  );
  serveRenderer(join(here, '../renderer'));
  const win = createMainWindow({ preload: join(here, 'preload.cjs'), url: APP_URL, logger });
  const unregister = registerConsoleIpc(core, win, logger);
  const stopNotifying = notifyOnDesktop(
    core.events,
    win,
    logger,
    (vpgId) => core.snapshot().vpgs.find((v) => v.vpgId === vpgId)?.name,
  );
  win.on('closed', () => {
    unregister();
    stopNotifying();
  });
  app.once('will-quit', (event) => {
    event.preventDefault();
    drop(core.stop().finally(() => app.exit(0)));
  });
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.enableSandbox();
  registerAppScheme();
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));
  app.on('window-all-closed', () => app.quit());
  drop(app.whenReady().then(start), (err) => {
    logger.fatal({ err }, 'the console could not start');
    app.exit(1);
  });
}
