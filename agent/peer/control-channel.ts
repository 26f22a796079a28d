import { TidelineError, isTidelineError, type ErrorCodeName } from '../../app/errors';
import { ErrorCodes } from '../../app/errors';
import type { Unsubscribe } from '../../app/protocol';
import type { Logger } from '../log';
import {
  ControlRequestSchema,
  ControlResponseSchema,
  encodeJson,
  type ControlResponse,
} from './messages';
import { protocolError } from './wire';

/** Who is calling a control method: the paired agent on the other end of the link. */
export interface ControlCaller {
  readonly agentId: string;
  readonly siteName: string;
}

export type ControlHandler = (params: unknown, caller: ControlCaller) => unknown;

/**
 * Control methods this agent serves to its peers (VPG configuration sync, block-hash
 * comparison, …), shared by every link. A method registered twice replaces the first.
 */
export class ControlRegistry {
  private readonly handlers = new Map<string, ControlHandler>();

  handle(method: string, handler: ControlHandler): Unsubscribe {
    this.handlers.set(method, handler);
    return () => {
      if (this.handlers.get(method) === handler) this.handlers.delete(method);
    };
  }

  get(method: string): ControlHandler | undefined {
    return this.handlers.get(method);
  }
}

export const DEFAULT_CONTROL_TIMEOUT_MS = 30_000;
const MAX_INBOUND_IN_FLIGHT = 64;

interface Pending {
  readonly method: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * JSON request/response over CONTROL frames of one connection. Requests carry an id chosen by
 * the sender; the answer carries the same id and either `result` or `error` {code, message}.
 * A frame with `method` is a request, one without is a response.
 */
export class ControlChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private inbound = 0;
  private closedWith: Error | undefined;

  constructor(
    private readonly registry: ControlRegistry,
    private readonly caller: ControlCaller,
    private readonly send: (payload: Buffer) => void,
    private readonly log: Logger,
  ) {}

  request(
    method: string,
    params: unknown,
    timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS,
  ): Promise<unknown> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new TidelineError(
            'TIMEOUT',
            `Site "${this.caller.siteName}" did not answer ${method} within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.send(encodeJson(params === undefined ? { id, method } : { id, method, params }));
    });
  }

  /** A CONTROL frame arrived. */
  onFrame(payload: Buffer): void {
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch {
      throw protocolError('CONTROL frame is not valid JSON');
    }
    if (value !== null && typeof value === 'object' && 'method' in value) {
      const request = ControlRequestSchema.safeParse(value);
      if (!request.success) throw protocolError('CONTROL request is not valid');
      this.serve(request.data.id, request.data.method, request.data.params);
      return;
    }
    const response = ControlResponseSchema.safeParse(value);
    if (!response.success) throw protocolError('CONTROL response is not valid');
    this.settle(response.data);
  }

  /** The connection closed: every pending request fails with `error`. */
  close(error: Error): void {
    this.closedWith = error;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(id);
    }
  }

  private serve(id: number, method: string, params: unknown): void {
    const handler = this.registry.get(method);
    if (handler === undefined) {
      this.answerError(
        id,
        new TidelineError('METHOD_NOT_FOUND', `Unknown peer control method "${method}"`),
      );
      return;
    }
    if (this.inbound >= MAX_INBOUND_IN_FLIGHT) {
      this.answerError(
        id,
        new TidelineError(
          'TOO_MANY_REQUESTS',
          `Too many control requests in flight (limit ${MAX_INBOUND_IN_FLIGHT})`,
        ),
      );
      return;
    }
    this.inbound++;
    const run = async (): Promise<unknown> => handler(params, this.caller);
    run()
      .then(
        (result) => {
          if (this.closedWith === undefined) this.send(encodeJson({ id, result: result ?? null }));
        },
        (err: unknown) => {
          if (!isTidelineError(err)) {
            this.log.error(
              { err, method, peer: this.caller.agentId },
              'peer control handler failed',
            );
          }
          this.answerError(
            id,
            isTidelineError(err)
              ? err
              : new TidelineError('INTERNAL_ERROR', 'Internal error: see the agent log'),
          );
        },
      )
      .finally(() => {
        this.inbound--;
      })
      .catch((err: unknown) => this.log.error({ err }, 'peer control answer failed'));
  }

  private answerError(id: number, err: TidelineError): void {
    if (this.closedWith !== undefined) return;
    this.send(encodeJson({ id, error: err.toJSON() }));
  }

  private settle(response: ControlResponse): void {
    const pending = this.pending.get(response.id);
    if (pending === undefined) return; // timed out meanwhile
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    if ('error' in response) {
      const code: ErrorCodeName =
        response.error.code in ErrorCodes
          ? (response.error.code as ErrorCodeName)
          : 'INTERNAL_ERROR';
      pending.reject(new TidelineError(code, response.error.message, response.error.data));
    } else {
      pending.resolve(response.result);
    }
  }
}
