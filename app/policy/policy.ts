import type { InForce, Policy, PolicyIssue } from './policy-schemas';

/*
 * STUB with the final signatures (being implemented): validation and evaluation of calendar
 * policies, pure (no Node, no DOM), correct across DST changes of the policy's time zone.
 */

/** Every problem of a policy, with messages an admin understands; `policy` when there are none. */
export function validatePolicy(input: unknown): { policy?: Policy; issues: PolicyIssue[] } {
  return { policy: input as Policy, issues: [] };
}

/** What is in force at `at` (ms since the epoch) and until when. */
export function policyInForce(policy: Policy, at: number): InForce {
  return {
    timeframeName: 'Default',
    rpoTargetSeconds: policy.default.rpoTargetSeconds,
    ...(policy.default.replicationBitsPerSecond !== undefined && {
      replicationBitsPerSecond: policy.default.replicationBitsPerSecond,
    }),
    ...(policy.default.seedingBitsPerSecond !== undefined && {
      seedingBitsPerSecond: policy.default.seedingBitsPerSecond,
    }),
    from: at,
    until: at + 60_000,
  };
}

/** A stored or drafted policy of any schema version, brought to the current one. */
export function migratePolicy(raw: unknown): { policy?: Policy; issues: PolicyIssue[] } {
  return validatePolicy(raw);
}
