/** Marks a deliberate fire-and-forget: the promise's failure is handled by `onError`. */
export function drop(promise: Promise<unknown>, onError: (err: unknown) => void = () => {}): void {
  promise.then(
    () => {},
    (err: unknown) => onError(err),
  );
}
