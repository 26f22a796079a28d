import { mkdirSync } from 'node:fs';
import Conf from 'conf';
import { plainSecretBox } from './secret-box';
import { SETTINGS_NAME, settingsFileOptions } from './settings-schema';
import { openSettings, type JsonFile, type SettingsStore } from './settings-store';

/** Settings under plain Node: conf, the library electron-store is built on (same file format). */
export function openNodeSettings(dir: string): SettingsStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const conf = new Conf<Record<string, unknown>>({
    ...settingsFileOptions(dir),
    configName: SETTINGS_NAME,
  });
  const file: JsonFile = conf;
  return openSettings(file, plainSecretBox);
}
