import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Conf from 'conf';
import { z } from 'zod';
import { migratePolicy } from '../../../app/policy/policy';
import type { PolicyTarget } from '../../../app/policy/policy-schemas';
import { PolicyDraftSchema, type PolicyDraft } from '../../../app/protocol/console-api';
import type { JsonFile } from '../settings/settings-store';
import type { Logger } from '../util/log';

/** File name (without .json) beside the settings file; conf and electron-store read the same. */
export const DRAFTS_NAME = 'policy-drafts';
const DRAFTS_SCHEMA_VERSION = 1;

/** Loose: a draft whose policy is of an older schema is migrated, not dropped, on load. */
const StoredDraftSchema = PolicyDraftSchema.extend({ policy: z.unknown() });
const DraftsFileSchema = z.looseObject({
  schemaVersion: z.number().int().positive(),
  drafts: z.array(z.unknown()),
});

/** The key a draft is stored under: one draft per agent and target. */
export function draftKey(agentId: string, target: PolicyTarget): string {
  return target.kind === 'link'
    ? `${agentId}/link/${target.peerAgentId}`
    : `${agentId}/vpg/${target.vpgId}`;
}

/** conf's and electron-store's options for the drafts file in `dir` (one file, both shells). */
export function draftsFileOptions(dir: string) {
  return {
    cwd: dir,
    configFileMode: 0o600,
    accessPropertiesByDotNotation: false,
    clearInvalidConfig: false,
    defaults: { schemaVersion: DRAFTS_SCHEMA_VERSION, drafts: [] },
  } as const;
}

/** Calendar policy drafts, kept in their own JSON file so editing needs no agent at all. */
export class DraftStore {
  private drafts: PolicyDraft[];

  constructor(
    private readonly file: JsonFile,
    private readonly logger: Logger,
  ) {
    this.drafts = this.load();
  }

  /** The drafts file next to the settings file at `settingsPath`, through conf (Node). */
  static besideSettings(settingsPath: string, logger: Logger): DraftStore {
    const cwd = dirname(settingsPath);
    mkdirSync(cwd, { recursive: true, mode: 0o700 });
    const conf = new Conf<Record<string, unknown>>({
      ...draftsFileOptions(cwd),
      configName: DRAFTS_NAME,
    });
    return new DraftStore(conf, logger);
  }

  list(): PolicyDraft[] {
    return [...this.drafts];
  }

  get(agentId: string, target: PolicyTarget): PolicyDraft | undefined {
    const key = draftKey(agentId, target);
    return this.drafts.find((d) => draftKey(d.agentId, d.target) === key);
  }

  save(draft: PolicyDraft): PolicyDraft {
    const key = draftKey(draft.agentId, draft.target);
    this.write([...this.drafts.filter((d) => draftKey(d.agentId, d.target) !== key), draft]);
    return draft;
  }

  discard(agentId: string, target: PolicyTarget): boolean {
    const key = draftKey(agentId, target);
    const kept = this.drafts.filter((d) => draftKey(d.agentId, d.target) !== key);
    if (kept.length === this.drafts.length) return false;
    this.write(kept);
    return true;
  }

  private write(drafts: PolicyDraft[]): void {
    this.file.store = { ...this.file.store, schemaVersion: DRAFTS_SCHEMA_VERSION, drafts };
    this.drafts = drafts;
  }

  /** A draft that cannot be read is logged and skipped: the others stay usable. */
  private load(): PolicyDraft[] {
    const parsed = DraftsFileSchema.safeParse(this.file.store);
    if (!parsed.success) {
      this.logger.warn({ path: this.file.path }, 'policy drafts file unreadable; starting empty');
      return [];
    }
    const drafts: PolicyDraft[] = [];
    for (const raw of parsed.data.drafts) {
      const stored = StoredDraftSchema.safeParse(raw);
      const migrated = stored.success ? migratePolicy(stored.data.policy) : undefined;
      if (!stored.success || migrated?.policy === undefined) {
        this.logger.warn(
          { path: this.file.path, issues: migrated?.issues },
          'policy draft skipped',
        );
        continue;
      }
      drafts.push({ ...stored.data, policy: migrated.policy });
    }
    return drafts;
  }
}
