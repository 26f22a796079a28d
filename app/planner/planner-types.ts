import type { Policy } from '../policy/policy-schemas';

/** One VPG replicating over the planned link. */
export interface PlanVpg {
  readonly vpgId: string;
  readonly name: string;
  /**
   * Bytes per second the VPG writes, one value per step from `PlanInput.start` (a week at
   * one-minute steps is 10 080 values); the week repeats (the plan is a steady state).
   */
  readonly rates: ArrayLike<number>;
  /** The VPG's own calendar policy: its target and limit override the link's (both limits apply). */
  readonly policy?: Policy;
  /** Target when no policy says otherwise (the VPG's own setting). */
  readonly rpoTargetSeconds: number;
  readonly checkpointIntervalSeconds: number;
  /** For journal sizing. */
  readonly journal?: { readonly historySeconds: number; readonly hardLimitBytes: number };
}

export interface PlanInput {
  /** Epoch ms of the first step. */
  readonly start: number;
  /** Default 60. */
  readonly stepSeconds?: number;
  /** The link's policy (its bandwidth limit is shared by every VPG on the link). */
  readonly linkPolicy?: Policy;
  readonly vpgs: readonly PlanVpg[];
  /** An RPO alert is raised once the RPO has been above target this long (agent's grace). */
  readonly graceSeconds: number;
  /**
   * Bytes on the wire per byte written (0 < share ≤ 1; default 1): a compressing link sends
   * fewer bytes than its VPGs write, and bandwidth limits count the wire.
   */
  readonly wireShare?: number;
}

/** What a policy has in force over the plan's steps, resolved once (VPGs may share arrays). */
export interface StepLimits {
  /** Link bytes per second, per step (Infinity: no limit). */
  readonly linkBytesPerSecond: Float64Array;
  /** Per VPG: bytes per second of its own policy (Infinity: none). */
  readonly vpgBytesPerSecond: readonly Float64Array[];
  /** Per VPG: the RPO target in force, seconds. */
  readonly rpoTargetSeconds: readonly Float64Array[];
  /** Per VPG: index into `frames` of the timeframe whose target is in force. */
  readonly frame: readonly Int32Array[];
  /** Per step: index into `linkFrames` of the link policy's timeframe in force. */
  readonly linkFrame: Int32Array;
  readonly frames: readonly FrameRef[];
  readonly linkFrames: readonly FrameRef[];
}

/** A timeframe of a policy (or its default). */
export interface FrameRef {
  /** 'link' or the VPG id whose own policy it belongs to. */
  readonly owner: string;
  /** Undefined (and no exceptionId): the policy's default. */
  readonly timeframeId?: string;
  /** A dated exception of the policy. */
  readonly exceptionId?: string;
  readonly name: string;
}

export interface SimResult {
  /** Per VPG: predicted RPO (s), the worst within each step. */
  readonly rpoSeconds: readonly Float64Array[];
  /** Per VPG: predicted RPO (s) at the end of each step. */
  readonly endRpoSeconds: readonly Float64Array[];
  /** Per VPG: bytes written and not yet sent at the end of each step. */
  readonly backlogBytes: readonly Float64Array[];
}

export interface RpoAlert {
  /** Epoch ms the RPO went above target (the alert is raised `graceSeconds` later). */
  readonly from: number;
  /** Epoch ms it was back under target (or the end of the plan). */
  readonly until: number;
  readonly worstRpoSeconds: number;
}

export interface TimeframeForecast {
  readonly frame: FrameRef;
  readonly rpoTargetSeconds: number;
  /** Minutes (steps) this timeframe is in force for the VPG over the week. */
  readonly steps: number;
  readonly worstRpoSeconds: number;
  readonly p95RpoSeconds: number;
  /** Steps with the RPO above target. */
  readonly stepsOverTarget: number;
  readonly alerts: readonly RpoAlert[];
  readonly verdict: 'met' | 'at-risk' | 'missed';
}

export interface VpgForecast {
  readonly vpgId: string;
  readonly name: string;
  readonly rpoSeconds: Float64Array;
  readonly backlogBytes: Float64Array;
  /**
   * The RPO at the end of each step (`rpoSeconds` is each step's worst): a window from a
   * step's start has the worst of the step and the end of the step before.
   */
  readonly endRpoSeconds: Float64Array;
  /** The RPO target in force at each step (shared between VPGs following one policy). */
  readonly rpoTargetSeconds: Float64Array;
  readonly timeframes: readonly TimeframeForecast[];
  /** Per step: the index in `timeframes` of the part in force. */
  readonly part: Int32Array;
  readonly journal?: {
    /** Bytes written in the busiest window of the history length. */
    readonly neededBytes: number;
    readonly hardLimitBytes: number;
    readonly fits: boolean;
  };
}

/** The least link bandwidth that keeps a link timeframe's RPO targets, or why there is none. */
export interface BandwidthAdvice {
  readonly frame: FrameRef;
  /** Bits per second, rounded up; undefined when no link bandwidth is enough. */
  readonly leastBitsPerSecond?: number;
  /** What the timeframe has now (undefined: no limit). */
  readonly currentBitsPerSecond?: number;
  /**
   * Steps of the timeframe above target at any link bandwidth (a backlog the part before it
   * left, a VPG's own limit): the least bandwidth holds the target at the others.
   */
  readonly unreachableSteps?: number;
  readonly reason?: string;
}

export interface Plan {
  readonly start: number;
  readonly stepSeconds: number;
  readonly vpgs: readonly VpgForecast[];
  readonly bandwidth: readonly BandwidthAdvice[];
}
