import type { ConsoleMethods, Handlers, ParamsOut } from '../../../app/protocol';
import type { SupportService } from './support-service';

type SupportMethods = keyof ConsoleMethods & `support.${string}`;
type Params<M extends SupportMethods> = ParamsOut<ConsoleMethods, M>;
type Guard = <P, R>(name: string, fn: (params: P) => Promise<R> | R) => (params: P) => Promise<R>;

/** support.*, wrapped in console-handlers' guard (internal errors logged, never shown). */
export function createSupportHandlers(
  support: SupportService,
  guard: Guard,
): Pick<Handlers<ConsoleMethods, unknown>, SupportMethods> {
  return {
    'support.collect': guard('support.collect', (p: Params<'support.collect'>) =>
      support.collect(p),
    ),
    'support.get': guard('support.get', (p: Params<'support.get'>) => support.get(p.collectionId)),
    'support.read': guard('support.read', (p: Params<'support.read'>) =>
      support.read(p.collectionId, p.offset, p.length),
    ),
    'support.discard': guard('support.discard', (p: Params<'support.discard'>) =>
      support.discard(p.collectionId),
    ),
  };
}
