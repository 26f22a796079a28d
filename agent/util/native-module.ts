import { createRequire } from 'node:module';

/**
 * The first of `ids` that loads and that `usable` accepts: the agent package ships native
 * binaries beside the bundle (`./native/*.node`, scripts/package-agent.mjs), a checkout loads
 * them from node_modules. Undefined where none loads (a lone bundle, another libc): the
 * caller falls back or goes without.
 */
export function loadNative<T>(
  ids: readonly string[],
  usable: (loaded: Record<string, unknown>) => boolean,
): T | undefined {
  const require = createRequire(import.meta.url);
  for (const id of ids) {
    try {
      const loaded = require(id) as Record<string, unknown>;
      if (usable(loaded)) return loaded as T;
    } catch {
      // Not there (or not loadable on this host): the next one.
    }
  }
  return undefined;
}
