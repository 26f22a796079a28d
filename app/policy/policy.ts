/*
 * Calendar policies, the entry point: validation, evaluation and migration, pure (no Node,
 * no DOM; zone offsets from Intl via luxon), correct across DST changes of the policy's zone.
 * Semantics (wall clock, DST gaps and folds) are documented in wall-clock.ts and evaluate.ts.
 */
export { validatePolicy } from './validate';
export { policyInForce } from './evaluate';
export { migratePolicy } from './migrate';
export { isKnownTimeZone } from './wall-clock';
