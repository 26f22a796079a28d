/**
 * Marks a deliberate fire-and-forget: the promise runs on, and a rejection goes to `onError`
 * (usually a logger) instead of becoming an unhandled rejection.
 */
export function drop(promise: Promise<unknown>, onError: (err: unknown) => void): void {
  promise.then(undefined, onError);
}
