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
  const queues = Array.from({ length: n }, () => new Segments());
  const backlog = new Float64Array(n);
  const arrived = new Float64Array(n);
  const demand = new Float64Array(n);
  const send = new Float64Array(n);
  const active: number[] = [];
  const rpo = Array.from({ length: n }, () => new Float64Array(steps));
  const held = Array.from({ length: n }, () => new Float64Array(steps));
  const rates = input.rates;
  const own = input.vpgBytesPerSecond;
  const interval = input.checkpointIntervalSeconds;
  const stop = input.stopAbove;

  for (let pass = 0; pass < PASSES; pass++) {
    // Every pass records: the second overwrites the first, unless the first ends drained.
    for (let s = 0; s < steps; s++) {
      const g = pass * steps + s;
      let total = 0;
      for (let v = 0; v < n; v++) {
        const a = ((rates[v] as ArrayLike<number>)[s] as number) * stepSeconds;
        arrived[v] = a;
        const b = (backlog[v] as number) + a;
        backlog[v] = b;
        const d = Math.min(b, ((own[v] as ArrayLike<number>)[s] as number) * stepSeconds);
        demand[v] = d;
        send[v] = 0;
        total += d;
      }
      const link = (input.linkBytesPerSecond[s] as number) * stepSeconds;
      if (total <= link) {
        for (let v = 0; v < n; v++) send[v] = demand[v] as number;
      } else {
        share(link, backlog, demand, send, active);
      }
      for (let v = 0; v < n; v++) {
        const queue = queues[v] as Segments;
        // Oldest first: what waited, then this step's writes; only their unsent part is queued.
        const left = queue.take(send[v] as number);
        const a = arrived[v] as number;
        if (a > 0) {
          const unsent = a - Math.min(a, left);
          if (unsent > 1e-6) queue.push(g, unsent, a);
        }
        const b = queue.empty ? 0 : Math.max(0, (backlog[v] as number) - (send[v] as number));
        backlog[v] = b;
        const age = queue.empty ? 0 : (g + 1) * stepSeconds - queue.oldestArrival(stepSeconds);
        const value = age + (interval[v] as number);
        (rpo[v] as Float64Array)[s] = value;
        (held[v] as Float64Array)[s] = b;
        // A warm start (pass 2) is never better than a cold one: stopping in pass 1 is sound.
        if (
          stop !== undefined &&
          stop.steps[s] === 1 &&
          value > ((stop.targets[v] as ArrayLike<number>)[s] as number) + 1e-9
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
 * One VPG's unsent bytes, as segments in arrival order (the step they arrived in, bytes
 * left, bytes that arrived): a ring that grows when full, as long backlogs are rare.
 */
class Segments {
  private step = new Int32Array(64);
  private left = new Float64Array(64);
  private size = new Float64Array(64);
  private head = 0;
  private count = 0;

  get empty(): boolean {
    return this.count === 0;
  }

  push(step: number, left: number, size: number): void {
    if (this.count === this.step.length) this.grow();
    const at = (this.head + this.count) % this.step.length;
    this.step[at] = step;
    this.left[at] = left;
    this.size[at] = size;
    this.count++;
  }

  /** Sends up to `bytes` from the oldest segments; returns what was not needed. */
  take(bytes: number): number {
    let rest = bytes;
    while (rest > 0 && this.count > 0) {
      const h = this.head;
      const have = this.left[h] as number;
      if (have <= rest) {
        rest -= have;
        this.head = (h + 1) % this.step.length;
        this.count--;
      } else {
        const after = have - rest;
        rest = 0;
        // Float dust: within a millionth of a byte of empty is empty.
        if (after <= 1e-6) {
          this.head = (h + 1) % this.step.length;
          this.count--;
        } else this.left[h] = after;
      }
    }
    return rest;
  }

  /** When the oldest unsent byte arrived (s): its segment's step plus the share already sent. */
  oldestArrival(stepSeconds: number): number {
    const h = this.head;
    const consumed = 1 - (this.left[h] as number) / (this.size[h] as number);
    return ((this.step[h] as number) + consumed) * stepSeconds;
  }

  private grow(): void {
    const length = this.step.length * 2;
    const order = (i: number): number => (this.head + i) % this.step.length;
    const step = new Int32Array(length);
    const left = new Float64Array(length);
    const size = new Float64Array(length);
    for (let i = 0; i < this.count; i++) {
      step[i] = this.step[order(i)] as number;
      left[i] = this.left[order(i)] as number;
      size[i] = this.size[order(i)] as number;
    }
    this.step = step;
    this.left = left;
    this.size = size;
    this.head = 0;
  }
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
