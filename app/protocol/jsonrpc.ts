import { z } from 'zod';
import { ErrorCodes, TidelineError, errorCodeName, type ErrorData } from '../errors';

/** JSON-RPC 2.0 envelope (https://www.jsonrpc.org/specification). */
export const JSONRPC = '2.0';

export const RequestIdSchema = z.union([z.string(), z.number(), z.null()]);
export type RequestId = z.infer<typeof RequestIdSchema>;

export const RequestSchema = z.strictObject({
  jsonrpc: z.literal(JSONRPC),
  id: RequestIdSchema.optional(),
  method: z.string().min(1),
  params: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
});
export type Request = z.infer<typeof RequestSchema>;

export const ErrorObjectSchema = z.object({
  code: z.number().int(),
  message: z.string(),
  data: z.unknown().optional(),
});
export type ErrorObject = z.infer<typeof ErrorObjectSchema>;

export const SuccessResponseSchema = z.object({
  jsonrpc: z.literal(JSONRPC),
  id: RequestIdSchema,
  result: z.unknown(),
});
export const ErrorResponseSchema = z.object({
  jsonrpc: z.literal(JSONRPC),
  id: RequestIdSchema,
  error: ErrorObjectSchema,
});
export type SuccessResponse = z.infer<typeof SuccessResponseSchema>;
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;
export type Response = SuccessResponse | ErrorResponse;

export type Notification = { jsonrpc: typeof JSONRPC; method: string; params?: unknown };

export function success(id: RequestId, result: unknown): SuccessResponse {
  return { jsonrpc: JSONRPC, id, result };
}

export function failure(id: RequestId, error: TidelineError): ErrorResponse {
  const body: ErrorObject = { code: error.rpcCode, message: error.message };
  body.data = { ...(error.data ?? {}), code: error.code };
  return { jsonrpc: JSONRPC, id, error: body };
}

/** Rebuilds a TidelineError from an error object received over a wire. */
export function errorFromWire(error: ErrorObject): TidelineError {
  const data =
    error.data !== null && typeof error.data === 'object'
      ? ({ ...(error.data as ErrorData) } as ErrorData)
      : undefined;
  const named = data && typeof data['code'] === 'string' ? data['code'] : undefined;
  const code =
    named !== undefined && named in ErrorCodes
      ? (named as keyof typeof ErrorCodes)
      : errorCodeName(error.code);
  if (data) delete data['code'];
  return new TidelineError(
    code,
    error.message,
    data && Object.keys(data).length ? data : undefined,
  );
}

/** `a.b[0].c` style path of a schema issue, for error messages an admin can act on. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** An INVALID_PARAMS (or other) error naming the first offending field. */
export function schemaError(
  code: 'INVALID_PARAMS' | 'INVALID_RESULT' | 'INVALID_REQUEST',
  what: string,
  error: z.ZodError,
): TidelineError {
  const issues = error.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  const first = issues[0] ?? { path: '(root)', message: 'invalid' };
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new TidelineError(code, `${what}: ${first.path}: ${first.message}${more}`, {
    path: first.path,
    issues,
  });
}
