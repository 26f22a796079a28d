import { fileURLToPath } from 'node:url';
import { isTidelineError } from '../../app/errors';
import { ConsoleCore } from '../services/console-core';
import { openNodeSettings } from '../services/settings/node-settings';
import { readSeedFile } from '../services/settings/seed';
import { drop } from '../services/util/drop';
import { createLogger } from '../services/util/log';
import { USAGE, parseWebArgs } from './cli-args';
import { openBrowser } from './open-browser';
import { startWebConsole } from './web-console';

/**
 * Browser mode entry (bundled to dist/main/web.mjs): the console core under plain Node and
 * the web console on 127.0.0.1. Prints exactly one line on stdout: "Console: <sign-in URL>".
 */
async function main(): Promise<void> {
  const args = parseWebArgs(process.argv.slice(2), import.meta.url);
  const logger = createLogger('tideline-console');
  const settings = openNodeSettings(args.settingsDir);
  const core = new ConsoleCore({
    settings,
    mode: 'browser',
    logger,
    // A checkout: the packages npm run package:agent built, and the unit template.
    deploy: {
      packagesDir: fileURLToPath(new URL('../../release', import.meta.url)),
      unitTemplatePath: fileURLToPath(
        new URL('../../resources/systemd/tideline-agent.service', import.meta.url),
      ),
    },
  });
  if (args.seed !== undefined) core.seed(readSeedFile(args.seed));
  core.start();
  const web = await startWebConsole({
    core,
    host: '127.0.0.1',
    port: args.port,
    staticDir: args.staticDir,
    logger,
  });
  process.stdout.write(`Console: ${web.url}\n`);
  logger.info(
    { origin: web.origin, settings: settings.path, static: args.staticDir },
    'web console listening',
  );
  if (args.open) openBrowser(web.url, (err) => logger.warn({ err }, 'could not open a browser'));

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    drop(
      Promise.allSettled([web.close(), core.stop()]).then(() => process.exit(0)),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const message = isTidelineError(err) || err instanceof Error ? err.message : String(err);
  process.stderr.write(message === USAGE ? USAGE : `tideline console: ${message}\n`);
  process.exit(message === USAGE ? 0 : 1);
});
