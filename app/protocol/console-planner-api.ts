import { z } from 'zod';
import { JournalSettingsSchema } from '../vpg/vpg-schemas';
import { PolicySchema, PolicyTargetSchema } from '../policy/policy-schemas';
import { IdSchema } from './common';
import { method } from './method-table';

/**
 * What the planner (app/planner) needs to plan a link, fetched by the console from the
 * link's sending agent and kept in the console's settings folder, so planning works with no
 * agent reachable. The renderer plans from it, with a draft in place of the applied policy.
 */

/** Minutes of history kept per VPG: the agents' 7 days, plus the minute being recorded. */
export const PLANNING_HISTORY_MINUTES = 7 * 24 * 60 + 1;

/** A VPG's measured write rate per minute (metrics.history at 1-minute resolution). */
export const RateHistorySchema = z.object({
  /** Epoch ms of the first minute (a minute boundary). */
  from: z.number().int().nonnegative(),
  /** Bytes per second, one per minute from `from`; null where the agent kept no point. */
  rates: z.array(z.number().nonnegative().nullable()).max(PLANNING_HISTORY_MINUTES),
});
export type RateHistory = z.infer<typeof RateHistorySchema>;

export const PlanningVpgSchema = z.object({
  vpgId: IdSchema,
  name: z.string(),
  rpoTargetSeconds: z.number().int().positive(),
  checkpointIntervalSeconds: z.number().positive(),
  journal: JournalSettingsSchema,
  /** The VPG's own policy as applied on the agent (absent: none bound). */
  policy: PolicySchema.optional(),
  history: RateHistorySchema,
});
export type PlanningVpg = z.infer<typeof PlanningVpgSchema>;

export const PlanningContextSchema = z.object({
  /** The link's sending agent (where its policy and its VPGs' histories live). */
  agentId: IdSchema,
  peerAgentId: IdSchema,
  /** "Link HQ → DR", as the console named it when fetched. */
  linkName: z.string(),
  /** Epoch ms the agent answered: how old the measured profiles are. */
  fetchedAt: z.number().int(),
  /** 'agent': fetched just now; 'cache': the agent is not connected, this is the last fetch. */
  source: z.enum(['agent', 'cache']),
  /** The link's policy as applied on the agent (absent: none bound). */
  linkPolicy: PolicySchema.optional(),
  /** The VPGs replicating over the link, protected by the sending agent. */
  vpgs: z.array(PlanningVpgSchema),
  /** The agent's RPO alert grace: an alert is raised after this long above target. */
  graceSeconds: z.number().int().nonnegative(),
  /**
   * The link compresses (site.setLinkCompression): bytes on the wire per record byte, as
   * measured on its current connection. Bandwidth limits count the wire, so the planner
   * carries the writes at this share. Absent: uncompressed, or too little measured yet.
   */
  wireShare: z.number().gt(0).lte(1).optional(),
});
export type PlanningContext = z.infer<typeof PlanningContextSchema>;

export const PlanningContextParamsSchema = z.strictObject({
  /** The agent the policy is applied through (a link's sending end, a VPG's protected site). */
  agentId: IdSchema,
  /** A link, or a VPG: the plan is of the link the VPG replicates over. */
  target: PolicyTargetSchema,
  /** Fetch from the agent even if the cache is fresh (default: a cache under 10 min is kept). */
  refresh: z.boolean().optional(),
});
export type PlanningContextParams = z.infer<typeof PlanningContextParamsSchema>;

export const plannerConsoleMethods = {
  'planner.context': method(
    PlanningContextParamsSchema,
    PlanningContextSchema,
    'The VPGs, applied policies and 7-day measured write rates of the link a policy target replicates over; from the agent when connected, else the last fetch kept by the console (NOT_FOUND if none).',
  ),
} as const;
