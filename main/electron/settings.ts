import { mkdirSync } from 'node:fs';
import Store from 'electron-store';
import { DRAFTS_NAME, DraftStore, draftsFileOptions } from '../services/policies/draft-store';
import {
  PLANNING_CACHE_NAME,
  PlanningCache,
  planningCacheOptions,
} from '../services/planner/planning-cache';
import type { SecretBox } from '../services/settings/secret-box';
import { SETTINGS_NAME, settingsFileOptions } from '../services/settings/settings-schema';
import type { Logger } from '../services/util/log';
import {
  openSettings,
  type JsonFile,
  type SettingsStore,
} from '../services/settings/settings-store';

/** The same settings file as browser mode (conf), through electron-store with the same options. */
export function openElectronSettings(dir: string, box: SecretBox): SettingsStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const store = new Store<Record<string, unknown>>({
    ...settingsFileOptions(dir),
    name: SETTINGS_NAME,
  });
  const file: JsonFile = store;
  return openSettings(file, box);
}

/** The calendar policy drafts beside the settings, through electron-store (conf's format). */
export function openElectronDrafts(dir: string, logger: Logger): DraftStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const store = new Store<Record<string, unknown>>({
    ...draftsFileOptions(dir),
    name: DRAFTS_NAME,
  });
  return new DraftStore(store, logger);
}

/** The planner's cache of measured rates beside the settings, through electron-store. */
export function openElectronPlanningCache(dir: string, logger: Logger): PlanningCache {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const store = new Store<Record<string, unknown>>({
    ...planningCacheOptions(dir),
    name: PLANNING_CACHE_NAME,
  });
  return new PlanningCache(store, logger);
}
