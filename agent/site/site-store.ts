import { z } from 'zod';
import { SiteDetailsSchema, type SiteDetails, type SiteDetailsPatch } from '../../app/protocol';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

export const SiteFileSchema = z.strictObject({ version: z.literal(1), details: SiteDetailsSchema });

/**
 * The site's details (name, location, contact), persisted in state/site.json. Updates are
 * serialized, and an update is visible only after it is durably on disk.
 */
export class SiteStore {
  private current: SiteDetails | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  /** Writes the first version of the file (init). */
  static async create(file: string, details: SiteDetails): Promise<void> {
    await writeJsonAtomic(
      file,
      { version: 1, details: SiteDetailsSchema.parse(details) },
      { exclusive: true },
    );
  }

  async load(): Promise<void> {
    this.current = (await readJsonFile(this.file, SiteFileSchema, 'site details')).details;
  }

  get details(): SiteDetails {
    if (this.current === undefined) throw new Error('site store used before load()');
    return { ...this.current };
  }

  update(patch: SiteDetailsPatch): Promise<SiteDetails> {
    const run = async (): Promise<SiteDetails> => {
      const next = SiteDetailsSchema.parse({ ...this.details, ...definedOnly(patch) });
      await writeJsonAtomic(this.file, { version: 1, details: next });
      this.current = next;
      return { ...next };
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}
