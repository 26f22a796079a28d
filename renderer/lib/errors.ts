import { isTidelineError } from '../../app/errors';
import type { ErrorView } from '../../app/protocol/console-api';

/** What an admin sees of a failure: the code and the message, never a stack trace. */
export function toErrorView(err: unknown): ErrorView {
  if (isTidelineError(err)) return { code: err.code, message: err.message };
  return { code: 'INTERNAL_ERROR', message: 'Something went wrong in the console. Try again.' };
}

export type Outcome<T = void> = { ok: true; value: T } | { ok: false; error: ErrorView };

/** Runs a call and turns a throw into an Outcome a component can show. */
export async function attempt<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    return { ok: false, error: toErrorView(err) };
  }
}
