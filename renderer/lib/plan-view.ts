import type { BandwidthAdvice, FrameRef, Plan, TimeframeForecast } from '../../app/planner';
import type { PolicyTarget } from '../../app/policy/policy-schemas';
import type { PlanOutcome } from '../workers/planner-messages';

/** What the Policies page shows of a plan, per part of the policy being drafted. */

export type Verdict = TimeframeForecast['verdict'];

/** Green, amber, red: readable at a glance, and the same in the legend, cards and calendar. */
export const VERDICT_COLOURS: Readonly<Record<Verdict, string>> = {
  met: '#2e7d32',
  'at-risk': '#ed6c02',
  missed: '#d32f2f',
};

export const VERDICT_LABELS: Readonly<Record<Verdict, string>> = {
  met: 'Met',
  'at-risk': 'At risk',
  missed: 'Missed',
};

/** A policy part: a timeframe, a dated exception or the default (uncovered time). */
export function frameKey(frame: Pick<FrameRef, 'timeframeId' | 'exceptionId'>): string {
  if (frame.exceptionId !== undefined) return `x:${frame.exceptionId}`;
  if (frame.timeframeId !== undefined) return `t:${frame.timeframeId}`;
  return 'default';
}

/** The owner of the frames the drafted policy decides: the link's, or the VPG's own. */
export function ownerOf(target: PolicyTarget): string {
  return target.kind === 'link' ? 'link' : target.vpgId;
}

export interface FramePrediction {
  readonly key: string;
  readonly name: string;
  readonly verdict: Verdict;
  readonly rpoTargetSeconds: number;
  /** Worst over the VPGs the part decides the target of. */
  readonly worstRpoSeconds: number;
  readonly p95RpoSeconds: number;
  readonly alerts: number;
  /** The worst RPO at the same times under the applied policies. */
  readonly before?: { readonly worstRpoSeconds: number };
  readonly advice?: BandwidthAdvice;
}

const RANK: Readonly<Record<Verdict, number>> = { met: 0, 'at-risk': 1, missed: 2 };

/** Per part of the drafted policy: the worst forecast over the VPGs whose target it decides. */
function worstByFrame(
  plan: Plan,
  owner: string,
): Map<string, TimeframeForecast & { count: number }> {
  const out = new Map<string, TimeframeForecast & { count: number }>();
  for (const vpg of plan.vpgs) {
    for (const tf of vpg.timeframes) {
      if (tf.frame.owner !== owner) continue;
      const key = frameKey(tf.frame);
      const known = out.get(key);
      if (known === undefined) {
        out.set(key, { ...tf, count: tf.alerts.length });
        continue;
      }
      out.set(key, {
        ...(RANK[tf.verdict] > RANK[known.verdict] ? tf : known),
        worstRpoSeconds: Math.max(known.worstRpoSeconds, tf.worstRpoSeconds),
        p95RpoSeconds: Math.max(known.p95RpoSeconds, tf.p95RpoSeconds),
        rpoTargetSeconds: Math.min(known.rpoTargetSeconds, tf.rpoTargetSeconds),
        count: known.count + tf.alerts.length,
      });
    }
  }
  return out;
}

/**
 * Per part of the drafted policy (by key): the worst RPO, under the applied policies, at the
 * steps the part is in force in the draft's plan, over the VPGs it decides.
 */
function worstBefore(after: Plan, before: Plan, owner: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const vpg of after.vpgs) {
    const then = before.vpgs.find((v) => v.vpgId === vpg.vpgId);
    if (then === undefined) continue;
    const keys = vpg.timeframes.map((t) =>
      t.frame.owner === owner ? frameKey(t.frame) : undefined,
    );
    for (let s = 0; s < vpg.part.length; s++) {
      const key = keys[vpg.part[s] as number];
      if (key === undefined) continue;
      out.set(key, Math.max(out.get(key) ?? 0, then.rpoSeconds[s] as number));
    }
  }
  return out;
}

export function framePredictions(outcome: PlanOutcome, target: PolicyTarget): FramePrediction[] {
  const owner = ownerOf(target);
  const after = worstByFrame(outcome.after, owner);
  const before = worstBefore(outcome.after, outcome.before, owner);
  const advice = (target.kind === 'vpg' ? outcome.vpgAdvice : outcome.after)?.bandwidth ?? [];
  return [...after.entries()].map(([key, f]) => {
    const b = before.get(key);
    const a = advice.find((x) => frameKey(x.frame) === key);
    return {
      key,
      name: f.frame.name,
      verdict: f.verdict,
      rpoTargetSeconds: f.rpoTargetSeconds,
      worstRpoSeconds: f.worstRpoSeconds,
      p95RpoSeconds: f.p95RpoSeconds,
      alerts: f.count,
      ...(b !== undefined && { before: { worstRpoSeconds: b } }),
      ...(a !== undefined && { advice: a }),
    };
  });
}

/** A bandwidth an admin would type: the least, rounded up to a whole Mbit/s. */
export function suggestedBits(leastBitsPerSecond: number): number {
  return Math.max(1e6, Math.ceil(leastBitsPerSecond / 1e6) * 1e6);
}

export interface ChartSeries {
  /** Epoch ms of each bucket's start. */
  readonly times: number[];
  /** Worst predicted RPO (minutes) per bucket, per VPG. */
  readonly rpoMinutes: { readonly id: string; readonly name: string; readonly data: number[] }[];
  /** Largest backlog over the VPGs per bucket, GB. */
  readonly backlogGB: number[];
  /** The lowest RPO target in force per bucket, minutes. */
  readonly targetMinutes: number[];
}

/**
 * The week in buckets of `bucketSteps` steps (the worst of each), so a chart draws hundreds of
 * points rather than ten thousand per VPG.
 */
export function chartSeries(plan: Plan, bucketSteps = 15): ChartSeries {
  const steps = plan.vpgs[0]?.rpoSeconds.length ?? 0;
  const buckets = Math.ceil(steps / bucketSteps);
  const times = Array.from(
    { length: buckets },
    (_, b) => plan.start + b * bucketSteps * plan.stepSeconds * 1000,
  );
  const rpoMinutes = plan.vpgs.map((v) => ({
    id: v.vpgId,
    name: v.name,
    data: new Array<number>(buckets).fill(0),
  }));
  const backlogGB = new Array<number>(buckets).fill(0);
  const targetMinutes = new Array<number>(buckets).fill(Infinity);
  plan.vpgs.forEach((vpg, i) => {
    const series = rpoMinutes[i]?.data ?? [];
    for (let s = 0; s < steps; s++) {
      const b = Math.floor(s / bucketSteps);
      series[b] = Math.max(series[b] ?? 0, (vpg.rpoSeconds[s] ?? 0) / 60);
      backlogGB[b] = Math.max(backlogGB[b] ?? 0, (vpg.backlogBytes[s] ?? 0) / 1e9);
      targetMinutes[b] = Math.min(
        targetMinutes[b] ?? Infinity,
        (vpg.rpoTargetSeconds[s] ?? Infinity) / 60,
      );
    }
  });
  return { times, rpoMinutes, backlogGB, targetMinutes };
}
