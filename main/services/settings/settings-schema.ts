import { z } from 'zod';
import { AddressSchema, FingerprintSchema, HostEntrySchema, IdSchema } from '../../../app/protocol';

/** Bump on a change an older console could not read, and add a step to migrateSettings. */
export const SETTINGS_SCHEMA_VERSION = 1;
/** File name (without .json) of the settings, for conf and electron-store alike. */
export const SETTINGS_NAME = 'settings';

export const SealedSecretSchema = z.object({ scheme: z.string().min(1), value: z.string().min(1) });

export const StoredAgentSchema = z.object({
  key: IdSchema,
  address: AddressSchema,
  /** The pinned certificate fingerprint. */
  fingerprint: FingerprintSchema,
  token: SealedSecretSchema,
  addedAt: z.number().int().nonnegative(),
});
export type StoredAgentRecord = z.infer<typeof StoredAgentSchema>;

/** Unknown top-level keys are kept, so other features can share the file. */
export const SettingsFileSchema = z.looseObject({
  schemaVersion: z.number().int().positive(),
  agents: z.array(StoredAgentSchema),
  /** Hosts to deploy agents to (main/services/deploy); older files have none. */
  hosts: z.array(HostEntrySchema).default([]),
});
export type SettingsFile = z.infer<typeof SettingsFileSchema>;

/**
 * Only what every file has had since version 1: conf rewrites a file on open when it lacks a
 * default, and an invalid file must be left alone. Newer lists (`hosts`) are read as empty
 * when missing, by the schema.
 */
export const SETTINGS_DEFAULTS: z.input<typeof SettingsFileSchema> = {
  schemaVersion: SETTINGS_SCHEMA_VERSION,
  agents: [],
};

/**
 * The options conf (plain Node) and electron-store (Electron) both open the file with, so the
 * two shells read and write the same JSON file in the same format.
 */
export function settingsFileOptions(dir: string) {
  return {
    cwd: dir,
    configFileMode: 0o600,
    accessPropertiesByDotNotation: false,
    clearInvalidConfig: false,
    defaults: SETTINGS_DEFAULTS,
  } as const;
}
