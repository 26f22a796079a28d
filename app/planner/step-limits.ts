import { policyInForce } from '../policy/evaluate';
import type { InForce, Policy } from '../policy/policy-schemas';
import type { FrameRef, PlanInput, StepLimits } from './planner-types';

/**
 * Calls `each(from, to, inForce)` for every stretch of steps [from, to) with one timeframe in
 * force, evaluating the policy once per stretch (policyInForce gives until when it next
 * changes), at each step's start.
 */
function forEachStretch(
  policy: Policy,
  start: number,
  stepMs: number,
  steps: number,
  each: (from: number, to: number, inForce: InForce) => void,
): void {
  let from = 0;
  while (from < steps) {
    const inForce = policyInForce(policy, start + from * stepMs);
    let to = from + 1;
    while (to < steps) {
      const at = start + to * stepMs;
      if (at >= inForce.until || at < inForce.from) break;
      to++;
    }
    each(from, to, inForce);
    from = to;
  }
}

/** The part of a policy in force: a timeframe, a dated exception, or (neither) the default. */
interface Part {
  readonly timeframeId?: string | undefined;
  readonly exceptionId?: string | undefined;
}

function frameIndex(frames: FrameRef[], owner: string, part: Part, name: string): number {
  const found = frames.findIndex(
    (f) =>
      f.owner === owner && f.timeframeId === part.timeframeId && f.exceptionId === part.exceptionId,
  );
  if (found >= 0) return found;
  frames.push({
    owner,
    ...(part.timeframeId !== undefined && { timeframeId: part.timeframeId }),
    ...(part.exceptionId !== undefined && { exceptionId: part.exceptionId }),
    name,
  });
  return frames.length - 1;
}

/** Per step: the index in `frames` of the link timeframe in force, added when first seen. */
function linkFramesIn(
  frames: FrameRef[],
  linkFrames: readonly FrameRef[],
  linkFrame: Int32Array,
): Int32Array {
  const at = new Int32Array(linkFrames.length).fill(-1);
  const frame = new Int32Array(linkFrame.length);
  for (let s = 0; s < linkFrame.length; s++) {
    const l = linkFrame[s] as number;
    if ((at[l] as number) < 0) {
      const lf = linkFrames[l] as FrameRef;
      at[l] = frameIndex(frames, 'link', lf, lf.name);
    }
    frame[s] = at[l] as number;
  }
  return frame;
}

const bytesPerSecond = (bits: number | undefined): number =>
  bits === undefined ? Infinity : bits / 8;

/**
 * The limits and targets in force at every step, as the agents apply them: the link policy's
 * bandwidth is shared by the link's VPGs; a VPG's own policy adds its own limit and decides
 * its RPO target; without policies, the VPG's own target and no limit. VPGs without a policy
 * of their own share their arrays (nothing writes them).
 */
export function resolveLimits(input: PlanInput, steps: number): StepLimits {
  const stepMs = (input.stepSeconds ?? 60) * 1000;
  const linkFrames: FrameRef[] = [];
  const frames: FrameRef[] = [];
  const link = new Float64Array(steps).fill(Infinity);
  const linkFrame = new Int32Array(steps).fill(-1);
  const linkTarget = new Float64Array(steps).fill(NaN);
  if (input.linkPolicy !== undefined) {
    forEachStretch(input.linkPolicy, input.start, stepMs, steps, (from, to, f) => {
      link.fill(bytesPerSecond(f.replicationBitsPerSecond), from, to);
      linkFrame.fill(frameIndex(linkFrames, 'link', f, f.timeframeName), from, to);
      linkTarget.fill(f.rpoTargetSeconds, from, to);
    });
  }
  // Shared, never written after: no own limit, and the frames of a VPG following the link
  // policy (its timeframes looked up in `frames` at the first such VPG, in step order).
  const unlimited = new Float64Array(steps).fill(Infinity);
  let followsLink: Int32Array | undefined;
  const vpgBytes: Float64Array[] = [];
  const targets: Float64Array[] = [];
  const frameOf: Int32Array[] = [];
  for (const vpg of input.vpgs) {
    if (vpg.policy !== undefined) {
      const limit = new Float64Array(steps).fill(Infinity);
      const target = new Float64Array(steps).fill(vpg.rpoTargetSeconds);
      const frame = new Int32Array(steps).fill(-1);
      forEachStretch(vpg.policy, input.start, stepMs, steps, (from, to, f) => {
        limit.fill(bytesPerSecond(f.replicationBitsPerSecond), from, to);
        target.fill(f.rpoTargetSeconds, from, to);
        frame.fill(frameIndex(frames, vpg.vpgId, f, f.timeframeName), from, to);
      });
      vpgBytes.push(limit);
      targets.push(target);
      frameOf.push(frame);
    } else if (input.linkPolicy !== undefined) {
      vpgBytes.push(unlimited);
      targets.push(linkTarget);
      frameOf.push((followsLink ??= linkFramesIn(frames, linkFrames, linkFrame)));
    } else {
      vpgBytes.push(unlimited);
      targets.push(new Float64Array(steps).fill(vpg.rpoTargetSeconds));
      frameOf.push(new Int32Array(steps).fill(frameIndex(frames, vpg.vpgId, {}, 'Default')));
    }
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
