/**
 * Every error the product reports, with its JSON-RPC code. The JSON-RPC standard codes come
 * first; the product's own live in the implementation-defined server range (-32000..-32099).
 * Messages are written for an admin: they say what happened and what to do about it.
 */
export const ErrorCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  UNAUTHORIZED: -32001,
  PROTOCOL_VERSION: -32002,
  HANDSHAKE_REQUIRED: -32003,
  NOT_FOUND: -32004,
  CONFLICT: -32005,
  FRAME_TOO_LARGE: -32006,
  TOO_MANY_REQUESTS: -32007,
  UNAVAILABLE: -32008,
  TIMEOUT: -32009,
  FINGERPRINT_MISMATCH: -32010,
  INVALID_RESULT: -32011,
  ALREADY_EXISTS: -32012,
  CONNECTION_CLOSED: -32013,
  /** SSH: a host's key seen for the first time, to be confirmed by the admin. */
  HOST_KEY_UNKNOWN: -32014,
  /** SSH: a host presents another key than the one pinned; never overridden in passing. */
  HOST_KEY_CHANGED: -32015,
  /** A file system (a deploy target's, say) has no room for what must be written. */
  NO_SPACE: -32016,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;

const namesByNumber = new Map<number, ErrorCodeName>(
  (Object.entries(ErrorCodes) as [ErrorCodeName, number][]).map(([name, num]) => [num, name]),
);

export function errorCodeName(rpcCode: number): ErrorCodeName {
  return namesByNumber.get(rpcCode) ?? 'INTERNAL_ERROR';
}

export type ErrorData = Record<string, unknown>;

/** The one error type that crosses module and process boundaries. */
export class TidelineError extends Error {
  readonly code: ErrorCodeName;
  readonly data: ErrorData | undefined;

  constructor(code: ErrorCodeName, message: string, data?: ErrorData) {
    super(message);
    this.name = 'TidelineError';
    this.code = code;
    this.data = data;
  }

  get rpcCode(): number {
    return ErrorCodes[this.code];
  }

  /** The shape shown to an admin or sent over a wire: never a stack trace. */
  toJSON(): { code: ErrorCodeName; message: string; data?: ErrorData } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export function isTidelineError(err: unknown): err is TidelineError {
  return err instanceof TidelineError;
}

/** Turns anything thrown into a TidelineError without exposing internals. */
export function toTidelineError(err: unknown, fallbackMessage = 'Internal error'): TidelineError {
  if (err instanceof TidelineError) return err;
  return new TidelineError('INTERNAL_ERROR', fallbackMessage);
}
