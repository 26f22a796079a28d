import { TidelineError } from '../errors';
import { simulate, type SimInput } from './fluid-queue';
import { busiestWindowBytes, forecastTimeframes } from './forecast';
import type {
  BandwidthAdvice,
  FrameRef,
  Plan,
  PlanInput,
  StepLimits,
  VpgForecast,
} from './planner-types';
import { resolveLimits } from './step-limits';

/** Relative precision of the least-bandwidth search. */
const SEARCH_PRECISION = 0.005;
const SEARCH_ROUNDS = 40;

/**
 * Plans one link (README.md): the predicted RPO and backlog of each of its VPGs over the
 * week, per timeframe the worst and 95th-percentile RPO and the alerts it would raise, the
 * least link bandwidth per link timeframe that keeps every target, and journal sizing.
 * Pure and deterministic: the same input gives the same plan, with no clock inside.
 */
export function planLink(input: PlanInput): Plan {
  const stepSeconds = input.stepSeconds ?? 60;
  const steps = input.vpgs[0]?.rates.length ?? 0;
  const uneven = input.vpgs.find((v) => v.rates.length !== steps);
  if (uneven !== undefined) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `The profiles of one link must cover the same steps: ${uneven.name} has ${uneven.rates.length}, not ${steps}`,
    );
  }
  const limits = resolveLimits(input, steps);
  const sim = simulate(simInput(input, limits, steps, limits.linkBytesPerSecond));
  const vpgs: VpgForecast[] = input.vpgs.map((vpg, v) => {
    const rpo = sim.rpoSeconds[v] as Float64Array;
    const timeframes = forecastTimeframes(
      rpo,
      limits.rpoTargetSeconds[v] as Float64Array,
      limits.frame[v] as Int32Array,
      limits.frames,
      input.start,
      stepSeconds,
      input.graceSeconds,
    );
    const journal =
      vpg.journal === undefined
        ? undefined
        : (() => {
            const needed = busiestWindowBytes(vpg.rates, stepSeconds, vpg.journal.historySeconds);
            return {
              neededBytes: Math.ceil(needed),
              hardLimitBytes: vpg.journal.hardLimitBytes,
              fits: needed <= vpg.journal.hardLimitBytes,
            };
          })();
    return {
      vpgId: vpg.vpgId,
      name: vpg.name,
      rpoSeconds: rpo,
      backlogBytes: sim.backlogBytes[v] as Float64Array,
      timeframes,
      ...(journal !== undefined && { journal }),
    };
  });
  const bandwidth = limits.linkFrames.map((frame, f) =>
    leastBandwidth(input, limits, steps, f, frame),
  );
  return { start: input.start, stepSeconds, vpgs, bandwidth };
}

function simInput(
  input: PlanInput,
  limits: StepLimits,
  steps: number,
  link: Float64Array,
): SimInput {
  return {
    rates: input.vpgs.map((v) => v.rates),
    linkBytesPerSecond: link,
    vpgBytesPerSecond: limits.vpgBytesPerSecond,
    checkpointIntervalSeconds: input.vpgs.map((v) => v.checkpointIntervalSeconds),
    stepSeconds: input.stepSeconds ?? 60,
    steps,
  };
}

/**
 * The least bandwidth for link timeframe `f`: binary search over the same model, the other
 * timeframes as they are, until every VPG's RPO stays within its target at every step of `f`.
 */
function leastBandwidth(
  input: PlanInput,
  limits: StepLimits,
  steps: number,
  f: number,
  frame: FrameRef,
): BandwidthAdvice {
  const inFrame: number[] = [];
  const mask = new Uint8Array(steps);
  for (let s = 0; s < steps; s++) {
    if (limits.linkFrame[s] === f) {
      inFrame.push(s);
      mask[s] = 1;
    }
  }
  const current = limits.linkBytesPerSecond[inFrame[0] ?? 0] as number;
  const base = {
    frame,
    ...(Number.isFinite(current) && { currentBitsPerSecond: Math.round(current * 8) }),
  };
  const holds = (bytesPerSecond: number): boolean => {
    const link = Float64Array.from(limits.linkBytesPerSecond);
    for (const s of inFrame) link[s] = bytesPerSecond;
    const run = simulate({
      ...simInput(input, limits, steps, link),
      stopAbove: { targets: limits.rpoTargetSeconds, steps: mask },
    });
    return !run.stopped;
  };
  if (!holds(Infinity)) {
    return {
      ...base,
      reason:
        'No link bandwidth is enough: a VPG’s own limit or its checkpoint interval keeps its RPO above the target',
    };
  }
  // Enough for everything written in one step at once: an upper bound that holds.
  let high = 1;
  for (const vpg of input.vpgs) {
    let peak = 0;
    for (let s = 0; s < vpg.rates.length; s++) peak = Math.max(peak, vpg.rates[s] as number);
    high += peak;
  }
  for (let i = 0; i < 64 && !holds(high); i++) high *= 2;
  let low = 0;
  for (let round = 0; round < SEARCH_ROUNDS && high - low > high * SEARCH_PRECISION; round++) {
    const mid = (low + high) / 2;
    if (holds(mid)) high = mid;
    else low = mid;
  }
  return { ...base, leastBitsPerSecond: Math.ceil(high * 8) };
}
