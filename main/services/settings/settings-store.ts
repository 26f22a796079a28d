import { copyFileSync } from 'node:fs';
import { TidelineError } from '../../../app/errors';
import { formatPath, type HostEntry } from '../../../app/protocol';
import type { SecretBox } from './secret-box';
import {
  SETTINGS_DEFAULTS,
  SETTINGS_SCHEMA_VERSION,
  SettingsFileSchema,
  type SettingsFile,
  type StoredAgentRecord,
} from './settings-schema';

export interface StoredAgent {
  readonly key: string;
  readonly address: string;
  readonly fingerprint: string;
  /** Undefined when the sealed token could not be opened (e.g. sealed by another keychain). */
  readonly token: string | undefined;
  readonly addedAt: number;
}

/** The console's persistent settings: the agents it knows, with pinned fingerprints and tokens. */
export interface SettingsStore {
  readonly path: string;
  agents(): StoredAgent[];
  /** Inserts or replaces (by key). */
  saveAgent(agent: StoredAgent & { token: string }): void;
  removeAgent(key: string): boolean;
  hosts(): HostEntry[];
  /** Inserts or replaces (by hostId). */
  saveHost(host: HostEntry): void;
  removeHost(hostId: string): boolean;
}

/** What conf and electron-store have in common: the whole store, read and written at once. */
export interface JsonFile {
  readonly path: string;
  store: Record<string, unknown>;
}

/** A SettingsStore over a conf/electron-store file, validated with zod on load. */
export function openSettings(file: JsonFile, box: SecretBox): SettingsStore {
  let data = load(file);
  const write = (next: SettingsFile): void => {
    file.store = next;
    data = next;
  };
  return {
    path: file.path,
    agents: () => data.agents.map((a) => ({ ...a, token: openToken(a, box) })),
    saveAgent(agent) {
      const record: StoredAgentRecord = {
        key: agent.key,
        address: agent.address,
        fingerprint: agent.fingerprint,
        token: { scheme: box.scheme, value: box.seal(agent.token) },
        addedAt: agent.addedAt,
      };
      const known = data.agents.some((a) => a.key === agent.key);
      const agents = known
        ? data.agents.map((a) => (a.key === agent.key ? record : a))
        : [...data.agents, record];
      write({ ...data, agents });
    },
    removeAgent(key) {
      if (!data.agents.some((a) => a.key === key)) return false;
      write({ ...data, agents: data.agents.filter((a) => a.key !== key) });
      return true;
    },
    hosts: () => data.hosts.map((h) => ({ ...h })),
    saveHost(host) {
      const known = data.hosts.some((h) => h.hostId === host.hostId);
      const hosts = known
        ? data.hosts.map((h) => (h.hostId === host.hostId ? host : h))
        : [...data.hosts, host];
      write({ ...data, hosts });
    },
    removeHost(hostId) {
      if (!data.hosts.some((h) => h.hostId === hostId)) return false;
      write({ ...data, hosts: data.hosts.filter((h) => h.hostId !== hostId) });
      return true;
    },
  };
}

function openToken(record: StoredAgentRecord, box: SecretBox): string | undefined {
  if (record.token.scheme !== box.scheme) return undefined;
  try {
    return box.open(record.token.value);
  } catch {
    return undefined;
  }
}

function load(file: JsonFile): SettingsFile {
  const raw = { ...SETTINGS_DEFAULTS, ...file.store };
  const version = raw['schemaVersion'];
  if (typeof version === 'number' && version > SETTINGS_SCHEMA_VERSION) {
    throw new TidelineError(
      'CONFLICT',
      `${file.path} was written by a newer console (settings version ${version}; this console ` +
        `reads up to ${SETTINGS_SCHEMA_VERSION}). Upgrade the console.`,
    );
  }
  const parsed = SettingsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${formatPath(issue.path)}: ${issue.message}` : 'invalid';
    throw new TidelineError(
      'INVALID_PARAMS',
      `The console settings in ${file.path} are invalid (${where}). Fix or move the file away.`,
    );
  }
  return migrate(file, parsed.data);
}

/** Brings older settings up to SETTINGS_SCHEMA_VERSION, after a backup of the file. */
function migrate(file: JsonFile, data: SettingsFile): SettingsFile {
  if (data.schemaVersion === SETTINGS_SCHEMA_VERSION) return data;
  copyFileSync(file.path, `${file.path}.v${data.schemaVersion}.bak`);
  // No older versions exist yet; each future step goes here: if (v === 1) { ...; v = 2 }
  const next = { ...data, schemaVersion: SETTINGS_SCHEMA_VERSION };
  file.store = next;
  return next;
}
