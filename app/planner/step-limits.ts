import { policyInForce } from '../policy/evaluate';
import type { InForce, Policy } from '../policy/policy-schemas';
import type { FrameRef, PlanInput, StepLimits } from './planner-types';

/**
 * Calls `each(stepIndex, inForce)` for every step of the plan, evaluating the policy once per
 * stretch (policyInForce gives until when it next changes), at each step's start.
 */
function forEachStep(
  policy: Policy,
  start: number,
  stepMs: number,
  steps: number,
  each: (step: number, inForce: InForce) => void,
): void {
  let current: InForce | undefined;
  for (let s = 0; s < steps; s++) {
    const at = start + s * stepMs;
    if (current === undefined || at >= current.until || at < current.from) {
      current = policyInForce(policy, at);
    }
    each(s, current);
  }
}

function frameIndex(frames: FrameRef[], owner: string, inForce: InForce): number {
  const found = frames.findIndex((f) => f.owner === owner && f.timeframeId === inForce.timeframeId);
  if (found >= 0) return found;
  frames.push({
    owner,
    ...(inForce.timeframeId !== undefined && { timeframeId: inForce.timeframeId }),
    name: inForce.timeframeName,
  });
  return frames.length - 1;
}

const bytesPerSecond = (bits: number | undefined): number =>
  bits === undefined ? Infinity : bits / 8;

/**
 * The limits and targets in force at every step, as the agents apply them: the link policy's
 * bandwidth is shared by the link's VPGs; a VPG's own policy adds its own limit and decides
 * its RPO target; without policies, the VPG's own target and no limit.
 */
export function resolveLimits(input: PlanInput, steps: number): StepLimits {
  const stepMs = (input.stepSeconds ?? 60) * 1000;
  const linkFrames: FrameRef[] = [];
  const frames: FrameRef[] = [];
  const link = new Float64Array(steps).fill(Infinity);
  const linkFrame = new Int32Array(steps).fill(-1);
  const linkTarget = new Float64Array(steps).fill(NaN);
  if (input.linkPolicy !== undefined) {
    forEachStep(input.linkPolicy, input.start, stepMs, steps, (s, f) => {
      link[s] = bytesPerSecond(f.replicationBitsPerSecond);
      linkFrame[s] = frameIndex(linkFrames, 'link', f);
      linkTarget[s] = f.rpoTargetSeconds;
    });
  }
  const vpgBytes: Float64Array[] = [];
  const targets: Float64Array[] = [];
  const frameOf: Int32Array[] = [];
  for (const vpg of input.vpgs) {
    const limit = new Float64Array(steps).fill(Infinity);
    const target = new Float64Array(steps).fill(vpg.rpoTargetSeconds);
    const frame = new Int32Array(steps).fill(-1);
    if (vpg.policy !== undefined) {
      forEachStep(vpg.policy, input.start, stepMs, steps, (s, f) => {
        limit[s] = bytesPerSecond(f.replicationBitsPerSecond);
        target[s] = f.rpoTargetSeconds;
        frame[s] = frameIndex(frames, vpg.vpgId, f);
      });
    } else if (input.linkPolicy !== undefined) {
      for (let s = 0; s < steps; s++) {
        target[s] = linkTarget[s] as number;
        const lf = linkFrames[linkFrame[s] as number] as FrameRef;
        frame[s] = frameIndex(frames, 'link', {
          ...(lf.timeframeId !== undefined && { timeframeId: lf.timeframeId }),
          ...(lf.exceptionId !== undefined && { exceptionId: lf.exceptionId }),
          timeframeName: lf.name,
        } as InForce);
      }
    } else {
      const own = frameIndex(frames, vpg.vpgId, { timeframeName: 'Default' } as InForce);
      frame.fill(own);
    }
    vpgBytes.push(limit);
    targets.push(target);
    frameOf.push(frame);
  }
  return {
    linkBytesPerSecond: link,
    vpgBytesPerSecond: vpgBytes,
    rpoTargetSeconds: targets,
    frame: frameOf,
    linkFrame,
    frames,
    linkFrames,
  };
}
