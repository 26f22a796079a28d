import assert from 'node:assert/strict';
import { TidelineError } from '../../app/errors';
import type { ConsoleMethods, ParamsIn, ResultOut } from '../../app/protocol';
import type { ConsoleCore } from '../../main/services/console-core';

/** A ConsoleApi method through the core's handlers, as the renderer calls it. */
export function consoleCall<M extends keyof ConsoleMethods & string>(
  core: ConsoleCore,
  method: M,
  params: ParamsIn<ConsoleMethods, M>,
): Promise<ResultOut<ConsoleMethods, M>> {
  const handler = core.handlers[method] as (
    p: unknown,
    ctx: unknown,
  ) => Promise<ResultOut<ConsoleMethods, M>>;
  return handler(params, undefined);
}

/** For assert.rejects: a TidelineError of this code whose message names every fragment. */
export function isError(code: string, ...fragments: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TidelineError, String(err));
    assert.equal(err.code, code, err.message);
    for (const f of fragments)
      assert.ok(err.message.includes(f), `"${err.message}" should name ${f}`);
    return true;
  };
}
