import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TidelineError } from '../../../app/errors';
import {
  AddressSchema,
  AgentTokenSchema,
  FingerprintSchema,
  formatPath,
} from '../../../app/protocol';

/** Pre-trusted agents (the demo lab): the fingerprint was read from the agent's own files. */
export const SeedEntrySchema = z.object({
  address: AddressSchema,
  token: AgentTokenSchema,
  fingerprint: FingerprintSchema,
});
export type SeedEntry = z.infer<typeof SeedEntrySchema>;

export const SeedFileSchema = z.array(SeedEntrySchema);

export function parseSeed(text: string, source: string): SeedEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TidelineError('INVALID_PARAMS', `${source} is not valid JSON`);
  }
  const parsed = SeedFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${formatPath(issue.path)}: ${issue.message}` : 'invalid';
    throw new TidelineError(
      'INVALID_PARAMS',
      `${source} must be a JSON array of {address, token, fingerprint} (${where})`,
    );
  }
  return parsed.data;
}

export function readSeedFile(path: string): SeedEntry[] {
  return parseSeed(readFileSync(path, 'utf8'), path);
}
