import type { z } from 'zod';
import { TidelineError } from '../errors';
import { ErrorResponseSchema, SuccessResponseSchema, errorFromWire, schemaError } from './jsonrpc';
import {
  buildDomainApi,
  type DomainApi,
  type MethodTable,
  type NotificationTable,
  type ParamsIn,
  type ResultOut,
  type Unsubscribe,
} from './method-table';

/** Timers are injected: app/ has neither DOM nor Node types. */
export interface Timers {
  set(ms: number, fn: () => void): unknown;
  clear(handle: unknown): void;
}

export interface RpcClientOptions {
  readonly send: (text: string) => void;
  readonly timers?: Timers;
  /** Per-call timeout when the caller gives none; 0 or absent = no timeout. */
  readonly defaultTimeoutMs?: number;
  /** Frames the client could not make sense of (a peer bug): for logging. */
  readonly onProtocolError?: (error: TidelineError) => void;
}

interface Pending {
  readonly method: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: TidelineError) => void;
  readonly timer: unknown;
}

type Listener = (params: unknown) => void;

/**
 * Client side of a method table over any text transport. Params are validated before they
 * are sent and results after they arrive: both ends check the contract.
 */
export class RpcClient<T extends MethodTable, N extends NotificationTable> {
  readonly api: DomainApi<T>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly table: T,
    private readonly notifications: N,
    private readonly options: RpcClientOptions,
  ) {
    this.api = buildDomainApi(table, (m, p) => this.call(m, p as ParamsIn<T, typeof m>));
  }

  call<M extends keyof T & string>(
    method: M,
    params?: ParamsIn<T, M>,
    opts: { timeoutMs?: number } = {},
  ): Promise<ResultOut<T, M>> {
    const spec = this.table[method];
    if (spec === undefined) {
      return Promise.reject(new TidelineError('METHOD_NOT_FOUND', `Unknown method "${method}"`));
    }
    const checked = spec.params.safeParse(params);
    if (!checked.success) {
      return Promise.reject(
        schemaError('INVALID_PARAMS', `Invalid params for ${method}`, checked.error),
      );
    }
    const id = this.nextId++;
    const frame: Record<string, unknown> = { jsonrpc: '2.0', id, method };
    if (checked.data !== undefined) frame['params'] = checked.data;
    return new Promise<ResultOut<T, M>>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs ?? 0;
      const timers = this.options.timers;
      const timer =
        timeoutMs > 0 && timers
          ? timers.set(timeoutMs, () => {
              this.pending.delete(id);
              reject(
                new TidelineError('TIMEOUT', `${method} got no answer within ${timeoutMs} ms`),
              );
            })
          : undefined;
      this.pending.set(id, {
        method,
        resolve: (value) => resolve(value as ResultOut<T, M>),
        reject,
        timer,
      });
      try {
        this.options.send(JSON.stringify(frame));
      } catch (err) {
        this.settle(id);
        reject(
          err instanceof TidelineError
            ? err
            : new TidelineError('CONNECTION_CLOSED', `Could not send ${method}: not connected`),
        );
      }
    });
  }

  on<K extends keyof N & string>(
    event: K,
    listener: (params: z.output<N[K]>) => void,
  ): Unsubscribe {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    const l = listener as Listener;
    set.add(l);
    return () => set.delete(l);
  }

  /** Feeds one received text frame (a response, a batch of them, or a notification). */
  handleText(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.protocolError('Received a frame that is not valid JSON');
      return;
    }
    for (const item of Array.isArray(value) ? value : [value]) this.handleValue(item);
  }

  /** Rejects every call in flight, e.g. when the connection closes. */
  failAll(error: TidelineError): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(error);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private handleValue(value: unknown): void {
    if (value !== null && typeof value === 'object' && 'method' in value && !('id' in value)) {
      this.handleNotification(value as { method: unknown; params?: unknown });
      return;
    }
    const ok = SuccessResponseSchema.safeParse(value);
    if (ok.success && typeof ok.data.id === 'number') {
      const p = this.settle(ok.data.id);
      if (p === undefined) return;
      const spec = this.table[p.method];
      const result = spec?.result.safeParse(ok.data.result);
      if (result === undefined || !result.success) {
        const err = result
          ? schemaError('INVALID_RESULT', `Unexpected result from ${p.method}`, result.error)
          : new TidelineError('INVALID_RESULT', `Unexpected result from ${p.method}`);
        p.reject(err);
        return;
      }
      p.resolve(result.data);
      return;
    }
    const bad = ErrorResponseSchema.safeParse(value);
    if (bad.success) {
      const err = errorFromWire(bad.data.error);
      if (typeof bad.data.id === 'number') {
        const p = this.settle(bad.data.id);
        if (p !== undefined) p.reject(err);
        else this.options.onProtocolError?.(err);
      } else {
        this.options.onProtocolError?.(err);
      }
      return;
    }
    this.protocolError('Received a frame that is neither a response nor a notification');
  }

  private handleNotification(frame: { method: unknown; params?: unknown }): void {
    if (typeof frame.method !== 'string')
      return this.protocolError('Notification without a method');
    const schema = Object.hasOwn(this.notifications, frame.method)
      ? this.notifications[frame.method]
      : undefined;
    if (schema === undefined) return this.protocolError(`Unknown notification "${frame.method}"`);
    const params = schema.safeParse(frame.params);
    if (!params.success) {
      this.options.onProtocolError?.(
        schemaError('INVALID_PARAMS', `Invalid notification ${frame.method}`, params.error),
      );
      return;
    }
    for (const listener of this.listeners.get(frame.method) ?? []) listener(params.data);
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    if (p.timer !== undefined) this.options.timers?.clear(p.timer);
    return p;
  }

  private protocolError(message: string): void {
    this.options.onProtocolError?.(new TidelineError('INVALID_REQUEST', message));
  }
}
