/** Exhaustiveness check for switches over a union: the compiler refuses a missed case. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${String(value)}`);
}
