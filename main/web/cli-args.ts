import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface WebCliArgs {
  readonly settingsDir: string;
  readonly port: number;
  readonly staticDir: string;
  readonly seed: string | undefined;
  readonly open: boolean;
}

export const USAGE = `Usage: node dist/main/web.mjs [options]
  --settings-dir DIR  console settings (default: $XDG_CONFIG_HOME/tideline-console or ~/.config/tideline-console)
  --port N            port on 127.0.0.1 (default 0: any free port)
  --static DIR        built renderer (default: dist/renderer beside this bundle)
  --seed FILE         JSON [{address, token, fingerprint}] of pre-trusted agents, added if missing
  --open              open the sign-in link in the default browser
`;

export function defaultSettingsDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'tideline-console');
}

/** Parses the web console's flags; throws an Error with a readable message on bad input. */
export function parseWebArgs(argv: readonly string[], moduleUrl: string): WebCliArgs {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      'settings-dir': { type: 'string' },
      port: { type: 'string' },
      static: { type: 'string' },
      seed: { type: 'string' },
      open: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) throw new Error(USAGE);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be a number from 0 to 65535, not "${values.port}"`);
  }
  return {
    settingsDir: values['settings-dir'] ?? defaultSettingsDir(),
    port,
    staticDir: values.static ?? fileURLToPath(new URL('../renderer/', moduleUrl)),
    seed: values.seed,
    open: values.open ?? false,
  };
}
