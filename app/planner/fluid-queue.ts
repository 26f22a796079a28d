import type { SimResult } from './planner-types';

export interface SimInput {
  /** Per VPG: bytes per second written at each step. */
  readonly rates: readonly ArrayLike<number>[];
  /** Link bytes per second at each step (Infinity: no limit). */
  readonly linkBytesPerSecond: ArrayLike<number>;
  /** Per VPG: its own bytes-per-second limit at each step (Infinity: none). */
  readonly vpgBytesPerSecond: readonly ArrayLike<number>[];
  readonly checkpointIntervalSeconds: readonly number[];
  readonly stepSeconds: number;
  /** Steps of one period (a week); the input repeats. */
  readonly steps: number;
  /**
   * Stop at the first step (of the reported pass) where `steps[s]` is set and a VPG's RPO is
   * above its target: the least-bandwidth search needs only the yes or no.
   */
  readonly stopAbove?: {
    readonly targets: readonly ArrayLike<number>[];
    readonly steps: Uint8Array;
  };
}

export interface SimOutcome extends SimResult {
  /** stopAbove given: the run stopped at a step above target. */
  readonly stopped: boolean;
}

/**
 * Passes over the week: the first fills the backlog a Monday inherits from Sunday. One is
 * enough when the week ends with nothing waiting (the usual case).
 */
const PASSES = 2;

/**
 * The planner's model (README.md): one fluid FIFO queue per VPG, stepped at `stepSeconds`.
 * Each step the VPGs' writes arrive (spread evenly over the step), then the link sends: each
 * VPG at most its own limit, all together at most the link's, shared in proportion to their
 * backlogs (water-filling: what a capped VPG cannot take goes to the others). Predicted RPO
 * at the end of a step = the age of the oldest byte still unsent + the checkpoint interval.
 * The week is run twice and the second pass reported, so the plan is the steady state (once
 * when it ends drained: the second would be the same).
 */
export function simulate(input: SimInput): SimOutcome {
  const { steps, stepSeconds } = input;
  const n = input.rates.length;
  const capacity = PASSES * steps + 1;
  // Per VPG ring of unsent segments: the step they arrived in, bytes left, bytes arrived.
  const segStep = Array.from({ length: n }, () => new Int32Array(capacity));
  const segLeft = Array.from({ length: n }, () => new Float64Array(capacity));
  const segSize = Array.from({ length: n }, () => new Float64Array(capacity));
  const head = new Int32Array(n);
  const tail = new Int32Array(n);
  const backlog = new Float64Array(n);
  const demand = new Float64Array(n);
  const send = new Float64Array(n);
  const active: number[] = [];
  const rpo = Array.from({ length: n }, () => new Float64Array(steps));
  const held = Array.from({ length: n }, () => new Float64Array(steps));

  for (let pass = 0; pass < PASSES; pass++) {
    // Every pass records: the second overwrites the first, unless the first ends drained.
    for (let s = 0; s < steps; s++) {
      const g = pass * steps + s;
      let total = 0;
      for (let v = 0; v < n; v++) {
        const arrived = (input.rates[v]?.[s] ?? 0) * stepSeconds;
        if (arrived > 0) {
          const t = tail[v] as number;
          (segStep[v] as Int32Array)[t] = g;
          (segLeft[v] as Float64Array)[t] = arrived;
          (segSize[v] as Float64Array)[t] = arrived;
          tail[v] = (t + 1) % capacity;
          backlog[v] = (backlog[v] as number) + arrived;
        }
        const own = (input.vpgBytesPerSecond[v]?.[s] ?? Infinity) * stepSeconds;
        demand[v] = Math.min(backlog[v] as number, own);
        send[v] = 0;
        total += demand[v] as number;
      }
      const link = (input.linkBytesPerSecond[s] ?? Infinity) * stepSeconds;
      if (total <= link) {
        for (let v = 0; v < n; v++) send[v] = demand[v] as number;
      } else {
        share(link, backlog, demand, send, active);
      }
      for (let v = 0; v < n; v++) {
        let left = send[v] as number;
        backlog[v] = Math.max(0, (backlog[v] as number) - left);
        const segs = segLeft[v] as Float64Array;
        while (left > 0 && head[v] !== tail[v]) {
          const h = head[v] as number;
          const take = Math.min(left, segs[h] as number);
          segs[h] = (segs[h] as number) - take;
          left -= take;
          // Float dust: a segment within a millionth of a byte of empty is empty.
          if ((segs[h] as number) <= 1e-6) head[v] = (h + 1) % capacity;
        }
        if (head[v] === tail[v]) backlog[v] = 0;
        let age = 0;
        if (head[v] !== tail[v]) {
          const h = head[v] as number;
          const consumed =
            1 -
            ((segLeft[v] as Float64Array)[h] as number) /
              ((segSize[v] as Float64Array)[h] as number);
          const arrivedAt = (((segStep[v] as Int32Array)[h] as number) + consumed) * stepSeconds;
          age = (g + 1) * stepSeconds - arrivedAt;
        }
        const value = age + (input.checkpointIntervalSeconds[v] ?? 0);
        (rpo[v] as Float64Array)[s] = value;
        (held[v] as Float64Array)[s] = backlog[v] as number;
        // A warm start (pass 2) is never better than a cold one: stopping in pass 1 is sound.
        const stop = input.stopAbove;
        if (
          stop !== undefined &&
          stop.steps[s] === 1 &&
          value > (stop.targets[v]?.[s] ?? Infinity) + 1e-9
        ) {
          return { rpoSeconds: rpo, backlogBytes: held, stopped: true };
        }
      }
    }
    // Drained at the end of the week: the next pass would start as this one did, and repeat it.
    if (backlog.every((b) => b === 0)) break;
  }
  return { rpoSeconds: rpo, backlogBytes: held, stopped: false };
}

/**
 * Shares `link` bytes among the VPGs in proportion to their backlogs, none above its demand;
 * what a capped VPG leaves goes to the others (water-filling).
 */
function share(
  link: number,
  backlog: Float64Array,
  demand: Float64Array,
  send: Float64Array,
  active: number[],
): void {
  active.length = 0;
  for (let v = 0; v < demand.length; v++) if ((demand[v] as number) > 0) active.push(v);
  let remaining = link;
  while (active.length > 0 && remaining > 0) {
    let weight = 0;
    for (const v of active) weight += backlog[v] as number;
    let capped = false;
    for (let i = active.length - 1; i >= 0; i--) {
      const v = active[i] as number;
      const want = (demand[v] as number) - (send[v] as number);
      if ((remaining * (backlog[v] as number)) / weight >= want) {
        send[v] = demand[v] as number;
        remaining -= want;
        active.splice(i, 1);
        capped = true;
      }
    }
    if (capped) continue;
    for (const v of active)
      send[v] = (send[v] as number) + (remaining * (backlog[v] as number)) / weight;
    remaining = 0;
  }
}
