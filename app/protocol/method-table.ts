import { z } from 'zod';

/**
 * A method table is the one declaration of an RPC surface: each method's params and result
 * schema, each notification's params schema. Dispatchers, clients and the Electron/browser
 * transports are all derived from it.
 */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  readonly params: P;
  readonly result: R;
  readonly description: string;
}

export type MethodTable = Record<string, MethodSpec>;
export type NotificationTable = Record<string, z.ZodType>;

export function method<P extends z.ZodType, R extends z.ZodType>(
  params: P,
  result: R,
  description: string,
): MethodSpec<P, R> {
  return { params, result, description };
}

/** Params for methods that take none: absent, or an empty object. */
export const NoParams = z.strictObject({}).optional();

export type ParamsIn<T extends MethodTable, M extends keyof T> = z.input<T[M]['params']>;
export type ParamsOut<T extends MethodTable, M extends keyof T> = z.output<T[M]['params']>;
export type ResultIn<T extends MethodTable, M extends keyof T> = z.input<T[M]['result']>;
export type ResultOut<T extends MethodTable, M extends keyof T> = z.output<T[M]['result']>;
export type NotificationParams<N extends NotificationTable, K extends keyof N> = z.output<N[K]>;

type Group<K extends string> = K extends `${infer G}.${string}` ? G : never;

/** A call signature whose params may be omitted when the schema accepts undefined. */
export type CallSignature<T extends MethodTable, K extends keyof T> =
  undefined extends ParamsIn<T, K>
    ? (params?: ParamsIn<T, K>) => Promise<ResultOut<T, K>>
    : (params: ParamsIn<T, K>) => Promise<ResultOut<T, K>>;

/** `{ agents: { list(), add(p) }, estate: { get() } }` from `agents.list`, `agents.add`, ... */
export type DomainApi<T extends MethodTable> = {
  [G in Group<keyof T & string>]: {
    [K in keyof T & string as K extends `${G}.${infer Name}` ? Name : never]: CallSignature<T, K>;
  };
};

export type Unsubscribe = () => void;

export interface EventApi<N extends NotificationTable> {
  on<K extends keyof N & string>(event: K, listener: (params: z.output<N[K]>) => void): Unsubscribe;
}

/**
 * Builds the domain-shaped API object from a table and one invoke function. Each method gets
 * its own function, so a transport exposes named operations, never a generic `send`.
 */
export function buildDomainApi<T extends MethodTable>(
  table: T,
  invoke: (method: keyof T & string, params: unknown) => Promise<unknown>,
): DomainApi<T> {
  const api: Record<string, Record<string, (params?: unknown) => Promise<unknown>>> = {};
  for (const name of Object.keys(table)) {
    const dot = name.indexOf('.');
    // Methods outside a group (the `hello` handshake) are for the transport, not the domain
    // API; they stay reachable through RpcClient.call.
    if (dot <= 0) continue;
    const group = name.slice(0, dot);
    const member = name.slice(dot + 1);
    const target = (api[group] ??= {});
    target[member] = (params?: unknown) => invoke(name, params);
  }
  return api as DomainApi<T>;
}
