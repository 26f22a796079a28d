import { POLICY_SCHEMA_VERSION, type Policy, type PolicyIssue } from './policy-schemas';
import { validatePolicy } from './validate';

/*
 * Serialization: a stored policy or draft is plain JSON carrying `schemaVersion`. Version 2
 * added dated exceptions; a version-1 policy becomes version 2 with none (`fromV1`). Unknown
 * versions (a newer Tideline's draft, or a corrupt file) are refused with a clear message.
 */

function fromV1(raw: Record<string, unknown>): Record<string, unknown> {
  return { ...raw, schemaVersion: 2, exceptions: [] };
}

/** A stored or drafted policy of any schema version, brought to the current one. */
export function migratePolicy(raw: unknown): { policy?: Policy; issues: PolicyIssue[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { issues: [{ path: '', message: 'Not a policy: expected a JSON object' }] };
  }
  const version = (raw as { schemaVersion?: unknown }).schemaVersion;
  if (version === 1) return validatePolicy(fromV1(raw as Record<string, unknown>));
  if (version !== POLICY_SCHEMA_VERSION) {
    const newer = typeof version === 'number' && version > POLICY_SCHEMA_VERSION;
    return {
      issues: [
        {
          path: 'schemaVersion',
          message:
            version === undefined
              ? 'Not a policy: it has no schemaVersion'
              : `Policy schema version ${JSON.stringify(version)} is not supported: this version of Tideline reads versions 1 to ${POLICY_SCHEMA_VERSION}${newer ? '; it was saved by a newer Tideline — upgrade to open it' : ''}`,
        },
      ],
    };
  }
  return validatePolicy(raw);
}
