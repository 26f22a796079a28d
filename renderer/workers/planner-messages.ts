import type { LinkPlanRequest, Plan } from '../../app/planner';
import type { ErrorView } from '../../app/protocol/console-api';

/** What the Policies page asks the planner worker: the link, with the draft and without. */
export interface PlanJob {
  readonly id: number;
  readonly request: LinkPlanRequest;
  /** For a VPG's own policy: advise its bandwidth from a plan of that VPG alone. */
  readonly adviseVpgId?: string;
}

export interface PlanOutcome {
  /** With the draft in place. */
  readonly after: Plan;
  /** With the policies as applied (before the draft). */
  readonly before: Plan;
  /** For a VPG's draft: least bandwidth of its own per timeframe (its own limit alone). */
  readonly vpgAdvice?: Plan;
  readonly timeZone: string;
  readonly measuredMinutes: Readonly<Record<string, number>>;
}

export type PlanReply =
  | { readonly id: number; readonly ok: true; readonly outcome: PlanOutcome }
  | { readonly id: number; readonly ok: false; readonly error: ErrorView };
