import { TidelineError } from '../errors';
import { FluidModel } from './fluid-queue';
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
/** Relative precision of the bound's own search (it costs no run of the model). */
const BOUND_PRECISION = 1e-4;

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
  const share = wireShare(input);
  // The model runs in bytes on the wire, what the limits count and the advice is given in;
  // backlogs and journals are in the bytes written.
  const model = new FluidModel({
    rates: input.vpgs.map((v) => (share === 1 ? v.rates : scaled(v.rates, share))),
    vpgBytesPerSecond: limits.vpgBytesPerSecond,
    checkpointIntervalSeconds: input.vpgs.map((v) => v.checkpointIntervalSeconds),
    stepSeconds,
    steps,
  });
  const sim = model.run(limits.linkBytesPerSecond, { record: true });
  const scratch = new Float64Array(steps);
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
      scratch,
    );
    // Per step: which of `timeframes` is in force (to compare another plan at the same steps).
    const frameOf = limits.frame[v] as Int32Array;
    const at = new Map(timeframes.map((t, i) => [t.frame, i]));
    const part = new Int32Array(steps);
    for (let s = 0; s < steps; s++) {
      part[s] = at.get(limits.frames[frameOf[s] as number] as FrameRef) ?? -1;
    }
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
      backlogBytes: scaled(sim.backlogBytes[v] as Float64Array, 1 / share),
      endRpoSeconds: sim.endRpoSeconds[v] as Float64Array,
      rpoTargetSeconds: limits.rpoTargetSeconds[v] as Float64Array,
      timeframes,
      part,
      ...(journal !== undefined && { journal }),
    };
  });
  // Enough for everything written in one step at once: an upper bound that holds.
  let enough = 1;
  for (const peak of model.peaks) enough += peak;
  const bandwidth = limits.linkFrames.map((frame, f) =>
    leastBandwidth(model, limits, enough, f, frame),
  );
  return { start: input.start, stepSeconds, vpgs, bandwidth };
}

function wireShare(input: PlanInput): number {
  const share = input.wireShare ?? 1;
  if (!(share > 0 && share <= 1)) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `The share of written bytes on the wire must be above 0 and at most 1, not ${share}`,
    );
  }
  return share;
}

/** `values` times `factor` (the same array when the factor is 1). */
function scaled<T extends ArrayLike<number>>(values: T, factor: number): T | Float64Array {
  if (factor === 1) return values;
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i] as number) * factor;
  return out;
}

/**
 * The least bandwidth for link timeframe `f`: binary search over the same model, the other
 * timeframes as they are, until every VPG's RPO stays within its target at every step of `f`;
 * bandwidths a cheap bound shows too low (FluidModel.surelyStops) are not run.
 */
function leastBandwidth(
  model: FluidModel,
  limits: StepLimits,
  enough: number,
  f: number,
  frame: FrameRef,
): BandwidthAdvice {
  const steps = model.steps;
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
  const link = Float64Array.from(limits.linkBytesPerSecond);
  const stopAbove = { targets: limits.rpoTargetSeconds, steps: mask };
  const set = (bytesPerSecond: number): Float64Array => {
    for (const s of inFrame) link[s] = bytesPerSecond;
    return link;
  };
  const holds = (bytesPerSecond: number): boolean =>
    !model.run(set(bytesPerSecond), { record: false, stopAbove }).stopped;
  // Steps above target however much the link gives in f (a backlog the part before left, a
  // VPG's own limit, a checkpoint interval above the target) say nothing of f's bandwidth:
  // the search holds the target at the others.
  let unreachable = 0;
  if (!holds(Infinity)) {
    const free = model.run(set(Infinity), { record: true });
    for (const s of inFrame) {
      const above = free.rpoSeconds.some(
        (rpo, v) =>
          (rpo[s] as number) > ((limits.rpoTargetSeconds[v] as Float64Array)[s] as number) + 1e-9,
      );
      if (above) {
        mask[s] = 0;
        unreachable++;
      }
    }
    if (unreachable === inFrame.length || !holds(Infinity)) {
      return {
        ...base,
        reason:
          'No link bandwidth is enough: a VPG’s own limit or its checkpoint interval keeps its RPO above the target',
      };
    }
  }
  let high = enough;
  for (let i = 0; i < 64 && !holds(high); i++) high *= 2;
  // What the one-queue bound rules out costs no run of the model (a run near the least
  // bandwidth costs the most). The least is often just above the bound (when the VPGs peak
  // together): first try the highest bandwidth that would end the search there.
  let low = 0;
  let bound = high;
  for (let round = 0; round < 64 && bound - low > bound * BOUND_PRECISION; round++) {
    const mid = (low + bound) / 2;
    if (model.surelyStops(set(mid), stopAbove)) low = mid;
    else bound = mid;
  }
  if (low > 0 && high - low > high * SEARCH_PRECISION) {
    const end = (low / (1 - SEARCH_PRECISION)) * (1 - 1e-12); // rounded down: it must end
    if (end < high) {
      if (holds(end)) high = end;
      else low = end;
    }
  }
  for (let round = 0; round < SEARCH_ROUNDS && high - low > high * SEARCH_PRECISION; round++) {
    const mid = (low + high) / 2;
    if (holds(mid)) high = mid;
    else low = mid;
  }
  return {
    ...base,
    leastBitsPerSecond: Math.ceil(high * 8),
    ...(unreachable > 0 && { unreachableSteps: unreachable }),
  };
}
