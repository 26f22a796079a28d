import { POLICY_SCHEMA_VERSION, type Policy, type PolicyIssue } from './policy-schemas';
import { validatePolicy } from './validate';

/*
 * Serialization: a stored policy or draft is plain JSON carrying `schemaVersion`. Version 1 is
 * the first and current one, so there is no migration step yet: this checks the version,
 * refusing unknown ones (a newer Tideline's draft, or a corrupt file) with a clear message, and
 * validates. A future version 2 adds a `fromV1` step here, run before validation.
 */

/** A stored or drafted policy of any schema version, brought to the current one. */
export function migratePolicy(raw: unknown): { policy?: Policy; issues: PolicyIssue[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { issues: [{ path: '', message: 'Not a policy: expected a JSON object' }] };
  }
  const version = (raw as { schemaVersion?: unknown }).schemaVersion;
  if (version !== POLICY_SCHEMA_VERSION) {
    const newer = typeof version === 'number' && version > POLICY_SCHEMA_VERSION;
    return {
      issues: [
        {
          path: 'schemaVersion',
          message:
            version === undefined
              ? 'Not a policy: it has no schemaVersion'
              : `Policy schema version ${JSON.stringify(version)} is not supported: this version of Tideline reads version ${POLICY_SCHEMA_VERSION}${newer ? '; it was saved by a newer Tideline — upgrade to open it' : ''}`,
        },
      ],
    };
  }
  return validatePolicy(raw);
}
