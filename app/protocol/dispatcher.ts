import { TidelineError, toTidelineError } from '../errors';
import {
  RequestIdSchema,
  RequestSchema,
  failure,
  schemaError,
  success,
  type Response,
} from './jsonrpc';
import type { MethodTable, NotificationTable, ParamsOut, ResultIn } from './method-table';
import type { z } from 'zod';

export type Handlers<T extends MethodTable, C> = {
  [M in keyof T]: (params: ParamsOut<T, M>, ctx: C) => Promise<ResultIn<T, M>> | ResultIn<T, M>;
};

export interface DispatcherOptions<C> {
  /** Largest batch accepted; a larger one is refused whole with INVALID_REQUEST. */
  readonly maxBatch?: number;
  /** Sees every error that is not a TidelineError (a bug): log it, the peer gets -32603. */
  readonly onInternalError?: (err: unknown, method: string) => void;
  /** Runs before a handler; throws a TidelineError to refuse the call (e.g. handshake first). */
  readonly guard?: (method: string, ctx: C) => void;
}

const DEFAULT_MAX_BATCH = 64;

/**
 * Server side of a method table: text in, text out. Bad input of any kind becomes a JSON-RPC
 * error for that request only; nothing here throws, so one bad request never harms another.
 */
export class Dispatcher<T extends MethodTable, C> {
  constructor(
    private readonly table: T,
    private readonly handlers: Handlers<T, C>,
    private readonly options: DispatcherOptions<C> = {},
  ) {}

  async handleText(text: string, ctx: C): Promise<string | undefined> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const err = new TidelineError('PARSE_ERROR', 'Parse error: the message is not valid JSON');
      return JSON.stringify(failure(null, err));
    }
    const out = await this.handleValue(value, ctx);
    return out === undefined ? undefined : JSON.stringify(out);
  }

  async handleValue(value: unknown, ctx: C): Promise<Response | Response[] | undefined> {
    if (!Array.isArray(value)) return this.handleOne(value, ctx);
    if (value.length === 0) {
      return failure(null, new TidelineError('INVALID_REQUEST', 'Invalid request: empty batch'));
    }
    const max = this.options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (value.length > max) {
      const msg = `Invalid request: batch of ${value.length} requests exceeds the limit of ${max}`;
      return failure(null, new TidelineError('INVALID_REQUEST', msg));
    }
    const results = await Promise.all(value.map((item) => this.handleOne(item, ctx)));
    const responses = results.filter((r): r is Response => r !== undefined);
    return responses.length > 0 ? responses : undefined;
  }

  private async handleOne(value: unknown, ctx: C): Promise<Response | undefined> {
    const parsed = RequestSchema.safeParse(value);
    if (!parsed.success) {
      return failure(idOf(value), schemaError('INVALID_REQUEST', 'Invalid request', parsed.error));
    }
    const request = parsed.data;
    const isNotification = request.id === undefined;
    try {
      const result = await this.invoke(request.method, request.params, ctx);
      return isNotification ? undefined : success(request.id ?? null, result);
    } catch (err) {
      if (isNotification) return undefined;
      return failure(request.id ?? null, toTidelineError(err));
    }
  }

  /**
   * One call by name, outside any envelope: guard, params checked against the table, handler,
   * result checked against the table. Throws TidelineErrors only; transports that are not
   * JSON-RPC (Electron IPC) use this so every transport validates the same way.
   */
  async invoke(method: string, rawParams: unknown, ctx: C): Promise<unknown> {
    const spec = Object.hasOwn(this.table, method) ? this.table[method] : undefined;
    if (spec === undefined) {
      const msg = `Method not found: "${method}" is not a method of this API`;
      throw new TidelineError('METHOD_NOT_FOUND', msg, { method });
    }
    try {
      this.options.guard?.(method, ctx);
      const params = spec.params.safeParse(rawParams);
      if (!params.success) {
        throw schemaError('INVALID_PARAMS', `Invalid params for ${method}`, params.error);
      }
      const handler = this.handlers[method as keyof T];
      const raw: unknown = await handler(params.data as ParamsOut<T, keyof T>, ctx);
      const result = spec.result.safeParse(raw);
      if (!result.success) {
        this.options.onInternalError?.(
          schemaError('INVALID_RESULT', `Result of ${method}`, result.error),
          method,
        );
        throw new TidelineError('INTERNAL_ERROR', `Internal error in ${method}`);
      }
      return result.data;
    } catch (err) {
      if (!(err instanceof TidelineError)) this.options.onInternalError?.(err, method);
      throw toTidelineError(err);
    }
  }
}

function idOf(value: unknown): z.infer<typeof RequestIdSchema> {
  if (value === null || typeof value !== 'object' || !('id' in value)) return null;
  const id = RequestIdSchema.safeParse((value as { id: unknown }).id);
  return id.success ? id.data : null;
}

/** A notification frame, validated against its table so a sender can't emit garbage. */
export function encodeNotification<N extends NotificationTable, K extends keyof N & string>(
  table: N,
  method: K,
  params: z.input<N[K]>,
): string {
  const schema = table[method];
  if (schema === undefined) throw new Error(`unknown notification ${method}`);
  const checked: unknown = schema.parse(params);
  return JSON.stringify({ jsonrpc: '2.0', method, params: checked });
}
