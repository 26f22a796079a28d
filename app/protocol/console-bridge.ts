import type { z } from 'zod';
import { TidelineError } from '../errors';
import { errorFromWire, schemaError } from './jsonrpc';
import {
  consoleMethods,
  consoleNotifications,
  type BridgeEnvelope,
  type ConsoleApi,
  type ConsoleMethods,
  type ConsoleNotifications,
} from './console-api';
import { buildDomainApi, type DomainApi, type Unsubscribe } from './method-table';

/** Name of the global the Electron preload exposes with contextBridge. */
export const BRIDGE_GLOBAL = 'tideline';

/**
 * What the preload exposes: one named function per ConsoleApi method (never a generic send),
 * each resolving to an envelope, plus `on` for notifications.
 */
export type TidelineBridge = {
  [G in keyof DomainApi<ConsoleMethods>]: {
    [K in keyof DomainApi<ConsoleMethods>[G]]: (params?: unknown) => Promise<BridgeEnvelope>;
  };
} & {
  on(event: keyof ConsoleNotifications & string, listener: (params: unknown) => void): Unsubscribe;
};

/** Renderer side of the Electron transport: envelopes back to results or TidelineErrors. */
export function consoleApiFromBridge(bridge: TidelineBridge): ConsoleApi {
  const groups = bridge as unknown as Record<
    string,
    Record<string, (params?: unknown) => Promise<BridgeEnvelope>>
  >;
  const api = buildDomainApi(consoleMethods, async (name, params) => {
    const dot = name.indexOf('.');
    const fn = groups[name.slice(0, dot)]?.[name.slice(dot + 1)];
    if (fn === undefined) throw new TidelineError('METHOD_NOT_FOUND', `The console has no ${name}`);
    const checked = consoleMethods[name].params.safeParse(params);
    if (!checked.success)
      throw schemaError('INVALID_PARAMS', `Invalid params for ${name}`, checked.error);
    const envelope = await fn(checked.data);
    if (!envelope.ok) {
      throw errorFromWire({
        code: -32603,
        message: envelope.error.message,
        data: {
          ...(isRecord(envelope.error.data) ? envelope.error.data : {}),
          code: envelope.error.code,
        },
      });
    }
    const result = consoleMethods[name].result.safeParse(envelope.result);
    if (!result.success)
      throw schemaError('INVALID_RESULT', `Unexpected result from ${name}`, result.error);
    return result.data;
  });
  return {
    ...api,
    on(event, listener) {
      const schema: z.ZodType = consoleNotifications[event];
      return bridge.on(event, (params) => {
        const parsed = schema.safeParse(params);
        // The table's schema for `event` parsed it: these are that event's params.
        if (parsed.success) listener(parsed.data as Parameters<typeof listener>[0]);
      });
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
