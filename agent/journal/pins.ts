import { join } from 'node:path';
import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';
import { PINS_FILE } from './layout';

/**
 * pins.json: who holds the journal's apply back, and where. A pin survives an agent restart
 * (a test failover that outlives it must still find its view); see README.md "Pins".
 */
export const PinsFileSchema = z.strictObject({
  version: z.literal(1),
  pins: z.array(
    z.strictObject({
      id: z.string().min(1).max(256),
      seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    }),
  ),
});
export type PinsFile = z.infer<typeof PinsFileSchema>;

export async function readPins(dir: string): Promise<Map<string, number>> {
  try {
    const file = await readJsonFile(join(dir, PINS_FILE), PinsFileSchema, 'journal pins');
    return new Map(file.pins.map((p) => [p.id, p.seq]));
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') return new Map();
    throw err;
  }
}

export async function writePins(dir: string, pins: ReadonlyMap<string, number>): Promise<void> {
  const file: PinsFile = { version: 1, pins: [...pins].map(([id, seq]) => ({ id, seq })) };
  await writeJsonAtomic(join(dir, PINS_FILE), file, { mode: 0o600 });
}

/** The lowest pin: apply stops there (undefined: nothing pinned). */
export function pinLimit(pins: ReadonlyMap<string, number>): number | undefined {
  let limit: number | undefined;
  for (const seq of pins.values()) if (limit === undefined || seq < limit) limit = seq;
  return limit;
}
