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
