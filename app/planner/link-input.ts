import { MINUTE_MS, toInstant, toLocal, weekStartOfLocal } from '../policy/wall-clock';
import type { Policy, PolicyTarget } from '../policy/policy-schemas';
import type { PlanningVpg, RateHistory } from '../protocol/console-planner-api';
import { measuredProfile, type MeasuredPoint } from './measured-profile';
import type { PlanInput, PlanVpg } from './planner-types';
import { templateProfile, type ProfileTemplate } from './profiles';

/** Where a VPG's week of write rates comes from. */
export type ProfileChoice =
  | { readonly kind: 'measured' }
  | { readonly kind: 'template'; readonly template: ProfileTemplate; readonly peakMBps: number }
  | { readonly kind: 'csv'; readonly name: string; readonly rates: ArrayLike<number> };

/** A VPG not created yet, planned from a synthetic profile. */
export interface PlannedVpg {
  readonly id: string;
  readonly name: string;
  readonly rpoTargetSeconds: number;
  readonly checkpointIntervalSeconds: number;
  readonly journal?: { readonly historySeconds: number; readonly hardLimitBytes: number };
  readonly profile: Exclude<ProfileChoice, { kind: 'measured' }>;
}

export interface LinkPlanRequest {
  readonly context: {
    readonly linkPolicy?: Policy | undefined;
    readonly vpgs: readonly PlanningVpg[];
    readonly graceSeconds: number;
    readonly wireShare?: number | undefined;
  };
  /** A draft in place of the applied policy of its target (the link, or one of its VPGs). */
  readonly draft?: { readonly target: PolicyTarget; readonly policy: Policy };
  /** Per VPG id: a synthetic profile in place of the measured one. */
  readonly profiles?: Readonly<Record<string, ProfileChoice>>;
  readonly planned?: readonly PlannedVpg[];
  /** The plan covers the week (Monday 00:00 in the zone) holding this instant. */
  readonly now: number;
}

export interface LinkPlanInput {
  readonly input: PlanInput;
  /** The zone the week is laid out in (the profiles' minute of the week). */
  readonly timeZone: string;
  /** Per VPG id planned from measurements: minutes of the week measured (the rest repeat). */
  readonly measuredMinutes: Readonly<Record<string, number>>;
}

const MB = 1_000_000;

/**
 * The planner's input for a link from what the console fetched (or kept): each VPG with its
 * measured or chosen profile and its policy, the draft in place of the policy it replaces.
 * The week is laid out in the zone of the draft, else the link's policy, else UTC, from the
 * Monday 00:00 before `now`; profiles are per minute of that week.
 */
export function linkPlanInput(request: LinkPlanRequest): LinkPlanInput {
  const { context, draft } = request;
  const linkPolicy =
    draft?.target.kind === 'link' ? draft.policy : (context.linkPolicy ?? undefined);
  const policyOf = (vpg: PlanningVpg): Policy | undefined =>
    draft?.target.kind === 'vpg' && draft.target.vpgId === vpg.vpgId ? draft.policy : vpg.policy;
  const timeZone = draft?.policy.timeZone ?? linkPolicy?.timeZone ?? 'UTC';
  const start = toInstant(timeZone, weekStartOfLocal(toLocal(timeZone, request.now)));
  const measuredMinutes: Record<string, number> = {};
  const vpgs: PlanVpg[] = context.vpgs.map((vpg) => {
    const choice = request.profiles?.[vpg.vpgId] ?? { kind: 'measured' };
    let rates: ArrayLike<number>;
    if (choice.kind === 'measured') {
      const measured = measuredProfile(historyPoints(vpg.history), timeZone);
      measuredMinutes[vpg.vpgId] = measured.measuredMinutes;
      rates = measured.rates;
    } else rates = syntheticRates(choice);
    const policy = policyOf(vpg);
    return {
      vpgId: vpg.vpgId,
      name: vpg.name,
      rates,
      ...(policy !== undefined && { policy }),
      rpoTargetSeconds: vpg.rpoTargetSeconds,
      checkpointIntervalSeconds: vpg.checkpointIntervalSeconds,
      journal: {
        historySeconds: vpg.journal.historySeconds,
        hardLimitBytes: vpg.journal.hardLimitBytes,
      },
    };
  });
  for (const p of request.planned ?? []) {
    vpgs.push({
      vpgId: p.id,
      name: p.name,
      rates: syntheticRates(p.profile),
      rpoTargetSeconds: p.rpoTargetSeconds,
      checkpointIntervalSeconds: p.checkpointIntervalSeconds,
      ...(p.journal !== undefined && { journal: p.journal }),
    });
  }
  return {
    input: {
      start,
      stepSeconds: 60,
      ...(linkPolicy !== undefined && { linkPolicy }),
      vpgs,
      graceSeconds: context.graceSeconds,
      ...(context.wireShare !== undefined && { wireShare: context.wireShare }),
    },
    timeZone,
    measuredMinutes,
  };
}

function syntheticRates(choice: Exclude<ProfileChoice, { kind: 'measured' }>): ArrayLike<number> {
  return choice.kind === 'template'
    ? templateProfile(choice.template, choice.peakMBps * MB)
    : choice.rates;
}

/** The cached one-rate-per-minute history back to points (minutes without one are skipped). */
export function historyPoints(history: RateHistory): MeasuredPoint[] {
  const points: MeasuredPoint[] = [];
  history.rates.forEach((rate, i) => {
    if (rate !== null)
      points.push({ time: history.from + i * MINUTE_MS, writtenBytesPerSecond: rate });
  });
  return points;
}
