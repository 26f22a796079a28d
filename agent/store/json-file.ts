import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { formatPath } from '../../app/protocol';

/**
 * Reads and validates a JSON state file. A missing file is NOT_FOUND; an unreadable or
 * invalid one is INTERNAL_ERROR with a message that names the file and the offending field.
 */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  what: string,
): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new TidelineError('NOT_FOUND', `${what} not found: ${path}`);
    throw new TidelineError('INTERNAL_ERROR', `Cannot read ${what} ${path}: ${errnoMessage(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TidelineError('INTERNAL_ERROR', `${what} ${path} is not valid JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? `${formatPath(issue.path)}: ${issue.message}` : 'invalid';
    throw new TidelineError('INTERNAL_ERROR', `${what} ${path} is not valid: ${where}`);
  }
  return parsed.data;
}

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

export function errnoMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? err.message : `${code} (${err.message})`;
}
