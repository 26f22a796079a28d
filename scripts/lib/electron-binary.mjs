// Where the Electron binary is, without triggering the electron package's lazy download
// (requiring 'electron' from Node downloads it when missing, which cannot work offline).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'node_modules',
  'electron',
);

/** @returns {string | undefined} the executable, or undefined when none is installed */
export function findElectronBinary() {
  const pathFile = join(pkgDir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : 'electron';
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const candidate = override ? join(override, relative) : join(pkgDir, 'dist', relative);
  return existsSync(candidate) ? candidate : undefined;
}

export const ELECTRON_MISSING_REASON =
  'Electron binary not installed (it is downloaded from GitHub, unreachable here); ' +
  'set ELECTRON_OVERRIDE_DIST_PATH to a directory holding an Electron build to run these specs';
