import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Conf from 'conf';
import { z } from 'zod';
import { PlanningContextSchema, type PlanningContext } from '../../../app/protocol';
import type { JsonFile } from '../settings/settings-store';
import type { Logger } from '../util/log';

/** File name (without .json) beside the settings file; conf and electron-store read the same. */
export const PLANNING_CACHE_NAME = 'planning-cache';
const CACHE_SCHEMA_VERSION = 1;

const CacheFileSchema = z.looseObject({
  schemaVersion: z.number().int().positive(),
  links: z.array(z.unknown()),
});

/** conf's and electron-store's options for the cache file in `dir`. */
export function planningCacheOptions(dir: string) {
  return {
    cwd: dir,
    configFileMode: 0o600,
    accessPropertiesByDotNotation: false,
    clearInvalidConfig: false,
    defaults: { schemaVersion: CACHE_SCHEMA_VERSION, links: [] },
  } as const;
}

/** What is kept per link: the context as the agent gave it (`source` is set when read). */
export type CachedContext = Omit<PlanningContext, 'source'>;
const CachedContextSchema = PlanningContextSchema.omit({ source: true });

/**
 * The last planning context fetched per link (its VPGs, applied policies, 7-day rates), in its
 * own JSON file so the planner works with no agent reachable. An entry that does not read is
 * logged and skipped; the next fetch of that link replaces it.
 */
export class PlanningCache {
  private links: CachedContext[];

  constructor(
    private readonly file: JsonFile,
    private readonly logger: Logger,
  ) {
    this.links = this.load();
  }

  static besideSettings(settingsPath: string, logger: Logger): PlanningCache {
    const cwd = dirname(settingsPath);
    mkdirSync(cwd, { recursive: true, mode: 0o700 });
    const conf = new Conf<Record<string, unknown>>({
      ...planningCacheOptions(cwd),
      configName: PLANNING_CACHE_NAME,
    });
    return new PlanningCache(conf, logger);
  }

  link(agentId: string, peerAgentId: string): CachedContext | undefined {
    return this.links.find((l) => l.agentId === agentId && l.peerAgentId === peerAgentId);
  }

  /** The newest entry of `agentId` holding the VPG. */
  ofVpg(agentId: string, vpgId: string): CachedContext | undefined {
    return this.links
      .filter((l) => l.agentId === agentId && l.vpgs.some((v) => v.vpgId === vpgId))
      .sort((a, b) => b.fetchedAt - a.fetchedAt)[0];
  }

  save(context: CachedContext): void {
    const links = [
      ...this.links.filter(
        (l) => !(l.agentId === context.agentId && l.peerAgentId === context.peerAgentId),
      ),
      context,
    ];
    this.file.store = { ...this.file.store, schemaVersion: CACHE_SCHEMA_VERSION, links };
    this.links = links;
  }

  private load(): CachedContext[] {
    const parsed = CacheFileSchema.safeParse(this.file.store);
    if (!parsed.success) {
      this.logger.warn({ path: this.file.path }, 'planning cache unreadable; starting empty');
      return [];
    }
    const links: CachedContext[] = [];
    for (const raw of parsed.data.links) {
      const entry = CachedContextSchema.safeParse(raw);
      if (entry.success) links.push(entry.data);
      else this.logger.warn({ path: this.file.path }, 'planning cache entry skipped');
    }
    return links;
  }
}
