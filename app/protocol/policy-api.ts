import { z } from 'zod';
import { AlertKindSchema, AlertSchema } from '../alerts/alert-schemas';
import {
  InForceSchema,
  PolicyIssueSchema,
  PolicySchema,
  PolicyTargetSchema,
} from '../policy/policy-schemas';
import { IdSchema } from './common';
import { method, type NotificationTable } from './method-table';

export const PolicyRecordSchema = z.object({
  target: PolicyTargetSchema,
  /** Absent: none bound (a VPG then follows its link's policy, a link runs unlimited). */
  policy: PolicySchema.optional(),
  /** What is in force now for this target (after a VPG's override). */
  inForce: InForceSchema.optional(),
});
export type PolicyRecord = z.infer<typeof PolicyRecordSchema>;

export const policyMethods = {
  'policy.get': method(
    z.strictObject({ target: PolicyTargetSchema }),
    PolicyRecordSchema,
    'The policy bound to a site link or a VPG, and what is in force now.',
  ),
  'policy.set': method(
    z.strictObject({
      target: PolicyTargetSchema,
      /** `version` is the one the admin edited: CONFLICT if the agent's changed since. */
      policy: PolicySchema.nullable(),
    }),
    PolicyRecordSchema,
    'Bind a policy (null: unbind); refuses an invalid policy or an outdated version.',
  ),
  'policy.validate': method(
    z.strictObject({ policy: z.unknown() }),
    z.object({ valid: z.boolean(), issues: z.array(PolicyIssueSchema) }),
    'Check a policy without applying it; every problem with a message for the admin.',
  ),
  'alert.list': method(
    z
      .strictObject({
        vpgId: IdSchema.optional(),
        kind: AlertKindSchema.optional(),
        state: z.enum(['raised', 'cleared']).optional(),
        limit: z.number().int().min(1).max(1000).default(200),
      })
      .optional(),
    z.array(AlertSchema),
    'Alerts of this agent, newest first.',
  ),
  'alert.ack': method(
    z.strictObject({ alertId: IdSchema }),
    AlertSchema,
    'Acknowledge an alert (it stays listed).',
  ),
} as const;

export const policyNotifications = {
  'alert.raised': AlertSchema,
  'alert.cleared': AlertSchema,
} as const satisfies NotificationTable;
