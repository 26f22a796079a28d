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
   * Stop at the first step (of either pass) where `steps[s]` is set and a VPG's RPO is above
   * its target: the least-bandwidth search needs only the yes or no (the curves are partial).
   */
  readonly stopAbove?: StopAbove;
}

export interface StopAbove {
  readonly targets: readonly ArrayLike<number>[];
  readonly steps: Uint8Array;
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
/** Float dust: within a millionth of a byte of empty is empty. */
const DUST = 1e-6;
/** A backlog this small a share of what was just sent is float rounding, not bytes waiting. */
const REMNANT = 1e-10;

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
  return new FluidModel(input).run(input.linkBytesPerSecond, {
    record: true,
    ...(input.stopAbove !== undefined && { stopAbove: input.stopAbove }),
  });
}

/** Stop targets prepared for runs (FluidModel.stopLimits). */
interface StopLimits {
  readonly idleOver: Uint8Array;
  readonly slack: Float64Array;
  readonly limit: (s: number, v: number) => number;
}

const NO_STOP: StopLimits = {
  idleOver: new Uint8Array(0),
  slack: new Float64Array(0),
  limit: () => Infinity,
};

/** Where a recording run writes, and whether every step (else only the VPGs stepped). */
interface Curves {
  readonly rpo: Float64Array[];
  readonly end: Float64Array[];
  readonly held: Float64Array[];
  readonly all: boolean;
}

/**
 * The model of `simulate` prepared once for many runs over the same writes and VPG limits
 * with different link limits (the least-bandwidth search): the writes per step are laid out
 * step-major, and the queues and work arrays are reused from run to run. The steps where
 * nothing waits and everything written fits are skipped in O(1), and where the link has room
 * only the VPGs with something queued are stepped: both give exactly what stepping every VPG
 * gives, as a VPG with nothing waiting whose writes fit sends them within the step.
 */
export class FluidModel {
  readonly n: number;
  readonly steps: number;
  private readonly stepSeconds: number;
  /** Bytes written per step, at `s * n + v`. */
  private readonly arrivals: Float64Array;
  /** Per VPG: its highest write rate (bytes/s), 0 at least. */
  readonly peaks: Float64Array;
  /** Per step: the bytes all VPGs wrote, summed in VPG order (as the step loop sums them). */
  private readonly written: Float64Array;
  /** Per step: 1 when every VPG's writes fit within its own limit. */
  private readonly fitOwn: Uint8Array;
  /** Bytes each VPG may send per step (its own limit), at `s * n + v`; none: no VPG has one. */
  private readonly ownCap: Float64Array | undefined;
  private readonly interval: Float64Array;
  private readonly backlog: Float64Array;
  private readonly demand: Float64Array;
  private readonly send: Float64Array;
  private readonly active: Int32Array;
  /** Its first `waiting` entries: the VPGs with something queued, in VPG order. */
  private readonly queued: Int32Array;
  private waiting = 0;
  /** What all VPGs send at the step linkHasRoom looked at last. */
  private total = 0;
  /** advance's last VPG: its RPO at the step's end (it returns the step's worst). */
  private lastEnd = 0;
  private readonly queues: Segments;
  /** The last stop targets seen, prepared (stopLimits). */
  private stopFor: StopAbove['targets'] | undefined;
  private stop = NO_STOP;
  /** The one queue of surelyStops. */
  private one: Segments | undefined;

  constructor(input: Omit<SimInput, 'linkBytesPerSecond' | 'stopAbove'>) {
    const { steps, stepSeconds } = input;
    const n = input.rates.length;
    this.n = n;
    this.steps = steps;
    this.stepSeconds = stepSeconds;
    this.interval = Float64Array.from(input.checkpointIntervalSeconds);
    const arrivals = (this.arrivals = new Float64Array(steps * n));
    const peaks = (this.peaks = new Float64Array(n));
    // VPGs without a limit of their own usually share one array: look at each once.
    const seen = new Set<ArrayLike<number>>();
    const limited = input.vpgBytesPerSecond.some((own) => {
      if (seen.has(own)) return false;
      seen.add(own);
      for (let s = 0; s < steps; s++) if ((own[s] as number) !== Infinity) return true;
      return false;
    });
    const ownCap = (this.ownCap = limited ? new Float64Array(steps * n) : undefined);
    // Transposed a block of steps at a time, so the writes stay in cache.
    for (let from = 0; from < steps; from += 64) {
      const to = Math.min(steps, from + 64);
      for (let v = 0; v < n; v++) {
        const rates = input.rates[v] as ArrayLike<number>;
        let peak = peaks[v] as number;
        for (let s = from; s < to; s++) {
          const rate = rates[s] as number;
          peak = Math.max(peak, rate);
          arrivals[s * n + v] = rate * stepSeconds;
        }
        peaks[v] = peak;
        if (ownCap === undefined) continue;
        const own = input.vpgBytesPerSecond[v] as ArrayLike<number>;
        for (let s = from; s < to; s++) ownCap[s * n + v] = (own[s] as number) * stepSeconds;
      }
    }
    this.written = new Float64Array(steps);
    this.fitOwn = new Uint8Array(steps).fill(1);
    for (let s = 0; s < steps; s++) {
      let total = 0;
      for (let v = 0; v < n; v++) total += arrivals[s * n + v] as number;
      this.written[s] = total;
      if (ownCap === undefined) continue;
      for (let v = 0; v < n; v++) {
        if (!((arrivals[s * n + v] as number) <= (ownCap[s * n + v] as number))) this.fitOwn[s] = 0;
      }
    }
    this.backlog = new Float64Array(n);
    this.demand = new Float64Array(n);
    this.send = new Float64Array(n);
    this.active = new Int32Array(n);
    this.queued = new Int32Array(n);
    this.queues = new Segments(n);
  }

  /**
   * One run with these link limits. `record`: fill the RPO and backlog curves (a search
   * needs only `stopped`, and gets empty curves; they are partial when it stopped).
   */
  run(
    linkBytesPerSecond: ArrayLike<number>,
    options: { readonly record: boolean; readonly stopAbove?: StopAbove },
  ): SimOutcome {
    const { n, steps, stepSeconds, written, fitOwn, interval, backlog } = this;
    const record = options.record;
    const rpo = Array.from({ length: record ? n : 0 }, (_, v) =>
      new Float64Array(steps).fill(0 + (interval[v] as number)),
    );
    const end = rpo.map((r) => r.slice());
    const held = Array.from({ length: record ? n : 0 }, () => new Float64Array(steps));
    const stop = options.stopAbove;
    const limits = this.stopLimits(stop?.targets);
    backlog.fill(0);
    this.queues.clear();
    this.waiting = 0;
    for (let pass = 0; pass < PASSES; pass++) {
      // Every pass records: the second overwrites the first, unless the first ends drained.
      // The curves start as nothing waiting gives; the second pass writes every step.
      const out = record ? { rpo, end, held, all: pass > 0 } : undefined;
      for (let s = 0; s < steps; s++) {
        const g = pass * steps + s;
        const link = (linkBytesPerSecond[s] as number) * stepSeconds;
        const check = stop !== undefined && stop.steps[s] === 1 ? limits : undefined;
        const some =
          fitOwn[s] === 1 &&
          (this.waiting === 0 ? (written[s] as number) <= link : this.linkHasRoom(s, link));
        const above = some
          ? this.stepSome(s, g, link, check, out)
          : this.stepAll(s, g, link, check, out);
        if (above)
          return { rpoSeconds: rpo, endRpoSeconds: end, backlogBytes: held, stopped: true };
      }
      // Drained at the end of the week: the next pass would start as this one did, and repeat it.
      if (backlog.every((b) => b === 0)) break;
    }
    return { rpoSeconds: rpo, endRpoSeconds: end, backlogBytes: held, stopped: false };
  }

  /**
   * Step s (of the run, g) when the link has room and every VPG's writes fit its own limit:
   * the waiting VPGs send their demand (linkHasRoom set it), the others all they wrote.
   * Returns whether a checked RPO is above target.
   */
  private stepSome(
    s: number,
    g: number,
    link: number,
    check: StopLimits | undefined,
    out?: Curves,
  ): boolean {
    const { n, backlog, demand, arrivals, queued, interval } = this;
    const at = s * n;
    if (out?.all === true) {
      for (let v = 0; v < n; v++) {
        (out.rpo[v] as Float64Array)[s] = 0 + (interval[v] as number);
        (out.end[v] as Float64Array)[s] = 0 + (interval[v] as number);
        (out.held[v] as Float64Array)[s] = 0;
      }
    }
    if (check !== undefined && check.idleOver[s] === 1) return true;
    let kept = 0;
    for (let i = 0; i < this.waiting; i++) {
      const v = queued[i] as number;
      const a = arrivals[at + v] as number;
      backlog[v] = (backlog[v] as number) + a;
      // The others send their demand (linkHasRoom's total).
      if (this.sendOne(v, s, g, link, this.total, demand[v] as number, a, check, out)) return true;
      if (!this.queues.isEmpty(v)) queued[kept++] = v;
    }
    this.waiting = kept;
    return false;
  }

  /** Step s (of the run, g), every VPG. Returns whether a checked RPO is above target. */
  private stepAll(
    s: number,
    g: number,
    link: number,
    check: StopLimits | undefined,
    out?: Curves,
  ): boolean {
    const { n, backlog, demand, send, arrivals, ownCap, queued } = this;
    const at = s * n;
    let total = 0;
    let capped = false;
    for (let v = 0; v < n; v++) {
      const b = (backlog[v] as number) + (arrivals[at + v] as number);
      backlog[v] = b;
      const d = ownCap === undefined ? b : Math.min(b, ownCap[at + v] as number);
      demand[v] = d;
      send[v] = 0;
      total += d;
      if (d < b) capped = true;
    }
    if (total <= link) send.set(demand);
    else if (!capped && link < total * (1 - 1e-12)) {
      // No VPG is held by its own limit and none can get its whole backlog: sharing is one
      // division each, as share's last round computes it (its weight is this total).
      for (let v = 0; v < n; v++) send[v] = 0 + (link * (backlog[v] as number)) / total;
    } else share(link, backlog, demand, send, this.active);
    let sum = 0;
    for (let v = 0; v < n; v++) sum += send[v] as number;
    let waiting = 0;
    for (let v = 0; v < n; v++) {
      const a = arrivals[at + v] as number;
      // A warm start (pass 2) is never better than a cold one: stopping in pass 1 is sound.
      if (this.sendOne(v, s, g, link, sum, send[v] as number, a, check, out)) return true;
      if (!this.queues.isEmpty(v)) queued[waiting++] = v;
    }
    this.waiting = waiting;
    return false;
  }

  /**
   * VPG v sends `sent` of the `total` all send at step s (of the run, g); what waited goes at
   * what it could send while backlogged: the link less what the others send, within its own
   * limit. Records its RPO and backlog; returns whether a checked RPO is above target.
   */
  private sendOne(
    v: number,
    s: number,
    g: number,
    link: number,
    total: number,
    sent: number,
    a: number,
    check: StopLimits | undefined,
    out: Curves | undefined,
  ): boolean {
    const { ownCap, n } = this;
    const room = link - (total - sent);
    const capacity = ownCap === undefined ? room : Math.min(room, ownCap[s * n + v] as number);
    const value = this.advance(v, g, sent, a, capacity);
    if (out !== undefined) {
      (out.rpo[v] as Float64Array)[s] = value;
      (out.end[v] as Float64Array)[s] = this.lastEnd;
      (out.held[v] as Float64Array)[s] = this.backlog[v] as number;
    }
    return check !== undefined && value > check.limit(s, v);
  }

  /**
   * Whether the VPGs' demand at step s (their writes fit their own limits; the waiting ones
   * have a backlog) fits within `link`, as stepAll's sum in VPG order decides it. Sets
   * `demand` for the waiting VPGs. The sum here adds their backlogs to the step's writes,
   * which rounds differently: near the limit, it sums in order.
   */
  private linkHasRoom(s: number, link: number): boolean {
    const { n, arrivals, backlog, demand, queued, ownCap } = this;
    const at = s * n;
    let extra = 0;
    for (let i = 0; i < this.waiting; i++) {
      const v = queued[i] as number;
      const a = arrivals[at + v] as number;
      const b = (backlog[v] as number) + a;
      const d = ownCap === undefined ? b : Math.min(b, ownCap[at + v] as number);
      demand[v] = d;
      extra += d - a;
    }
    const total = (this.written[s] as number) + extra;
    this.total = total;
    if (Math.abs(total - link) > 1e-9 * total) return total < link;
    let exact = 0;
    for (let v = 0; v < n; v++) {
      exact += this.queues.isEmpty(v) ? (arrivals[at + v] as number) : (demand[v] as number);
    }
    return exact <= link;
  }

  /**
   * VPG v sends `sent` bytes at step g, oldest first: what waited, then this step's writes
   * `a` (only their unsent part is queued); what waited goes at the rate `capacity` (bytes
   * per step) allows. Updates its backlog; returns its worst RPO within the step.
   */
  private advance(v: number, g: number, sent: number, a: number, capacity: number): number {
    const { queues, backlog, stepSeconds } = this;
    // While sending, the age rises through bytes written faster than they are sent and falls
    // through the others: within the step its worst is at a segment's end (take) or at the
    // step's end (its start is the step before's end, counted there).
    const begin = g * stepSeconds;
    const left = queues.take(v, sent, begin, stepSeconds, capacity);
    const crossed = queues.worstCrossing;
    if (a > 0) {
      const unsent = a - Math.min(a, left);
      if (unsent > DUST) queues.push(v, g, unsent, a);
    }
    let empty = queues.isEmpty(v);
    const b = empty ? 0 : Math.max(0, (backlog[v] as number) - sent);
    // Rounding in the sharing can leave a remnant of a segment that the backlog no longer
    // counts: it was sent. Kept, it would age on its own once the writes stop.
    if (!empty && b <= REMNANT * sent) {
      queues.drop(v);
      empty = true;
    }
    backlog[v] = empty ? 0 : b;
    const age = empty ? 0 : (g + 1) * stepSeconds - queues.oldestArrival(v, stepSeconds);
    this.lastEnd = age + (this.interval[v] as number);
    return Math.max(crossed, age) + (this.interval[v] as number);
  }

  /**
   * A cheap bound for the search: true when a run with these limits surely stops, as all
   * the link's VPGs taken as one FIFO queue do. Whatever the sharing, the VPGs together have
   * at least that queue's backlog waiting, and its oldest byte is the newest an oldest byte
   * of that much backlog can be; so some VPG's RPO is at least its age plus that VPG's
   * checkpoint interval. The one queue is given the dust the VPGs' queues may drop (2 per
   * VPG and step) and a billionth of the link more, so float rounding cannot make it worse
   * than the VPGs; it runs the first pass only (a run never skips it).
   */
  surelyStops(linkBytesPerSecond: ArrayLike<number>, stopAbove: StopAbove): boolean {
    const { n, steps, stepSeconds, written } = this;
    const { slack } = this.stopLimits(stopAbove.targets);
    const queue = (this.one ??= new Segments(1));
    queue.clear();
    for (let s = 0; s < steps; s++) {
      const link = (linkBytesPerSecond[s] as number) * stepSeconds * (1 + 1e-9) + 2 * n * DUST;
      const left = queue.take(0, link);
      const a = written[s] as number;
      if (a > 0) {
        const unsent = a - Math.min(a, left);
        if (unsent > DUST) queue.push(0, s, unsent, a);
      }
      if (stopAbove.steps[s] === 1 && !queue.isEmpty(0)) {
        const age = (s + 1) * stepSeconds - queue.oldestArrival(0, stepSeconds);
        if (age > (slack[s] as number) + 1e-6) return true;
      }
    }
    return false;
  }

  /**
   * For stop targets: per step whether a checkpoint interval alone is above a target (a VPG
   * with nothing waiting stops the run), the most any VPG's oldest byte may age (surelyStops)
   * and the RPO above which a run stops (the target and 1e-9 s): one per step when all VPGs
   * have the same target then (the usual case), else per VPG, step-major. Kept for the next
   * run: a search gives the same targets.
   */
  private stopLimits(targets: StopAbove['targets'] | undefined): StopLimits {
    if (targets === undefined) return NO_STOP;
    if (this.stopFor !== targets) {
      const { n, steps } = this;
      const idleOver = new Uint8Array(steps);
      const slack = new Float64Array(steps).fill(-Infinity);
      const first = targets[0];
      const common = new Float64Array(steps);
      if (first !== undefined)
        for (let s = 0; s < steps; s++) common[s] = (first[s] as number) + 1e-9;
      let uniform = true;
      let last: [ArrayLike<number>, number] | undefined;
      for (let v = 0; v < n; v++) {
        const target = targets[v] as ArrayLike<number>;
        const value = 0 + (this.interval[v] as number);
        // VPGs following the link policy share one array (and often their interval).
        if (last !== undefined && last[0] === target && last[1] === value) continue;
        last = [target, value];
        for (let s = 0; s < steps; s++) {
          const t = target[s] as number;
          if (value > t + 1e-9) idleOver[s] = 1;
          slack[s] = Math.max(slack[s] as number, t - value);
          if (uniform && t !== ((first as ArrayLike<number>)[s] as number)) uniform = false;
        }
      }
      let limit: (s: number, v: number) => number;
      if (uniform) limit = (s) => common[s] as number;
      else {
        const over = new Float64Array(steps * n);
        for (let v = 0; v < n; v++) {
          const target = targets[v] as ArrayLike<number>;
          for (let s = 0; s < steps; s++) over[s * n + v] = (target[s] as number) + 1e-9;
        }
        limit = (s, v) => over[s * n + v] as number;
      }
      this.stopFor = targets;
      this.stop = { idleOver, slack, limit };
    }
    return this.stop;
  }
}

/**
 * Every VPG's unsent bytes, as segments in arrival order (the step they arrived in, bytes
 * left, bytes that arrived): per VPG a ring of 4-slot records (one unused) whose length is a
 * power of two, so wrapping is a mask; it doubles when full, as long backlogs are rare.
 */
class Segments {
  private readonly rings: Float64Array[];
  private readonly head: Int32Array;
  private readonly count: Int32Array;

  constructor(n: number) {
    this.rings = Array.from({ length: n }, () => new Float64Array(4 * 64));
    this.head = new Int32Array(n);
    this.count = new Int32Array(n);
  }

  clear(): void {
    this.head.fill(0);
    this.count.fill(0);
  }

  isEmpty(v: number): boolean {
    return this.count[v] === 0;
  }

  drop(v: number): void {
    this.count[v] = 0;
  }

  push(v: number, step: number, left: number, size: number): void {
    let ring = this.rings[v] as Float64Array;
    const count = this.count[v] as number;
    if (4 * count === ring.length) ring = this.grow(v);
    const at = (((this.head[v] as number) + count) & ((ring.length >> 2) - 1)) << 2;
    ring[at] = step;
    ring[at + 1] = left;
    ring[at + 2] = size;
    this.count[v] = count + 1;
  }

  /** take's last call: the oldest byte's age (s) as each segment it emptied ended, at worst. */
  worstCrossing = 0;

  /**
   * Sends up to `bytes` from VPG v's oldest segments, at `capacity` bytes per step from the
   * step that starts at `begin` (s); returns what was not needed. Sets worstCrossing (0 when
   * none emptied).
   */
  take(v: number, bytes: number, begin = 0, stepSeconds = 0, capacity = bytes): number {
    this.worstCrossing = 0;
    let count = this.count[v] as number;
    if (count === 0) return bytes;
    const ring = this.rings[v] as Float64Array;
    const mask = (ring.length >> 2) - 1;
    let h = this.head[v] as number;
    let rest = bytes;
    while (rest > 0 && count > 0) {
      const have = ring[(h << 2) + 1] as number;
      if (have <= rest) {
        rest -= have;
        // Its last byte (written at the end of its step) goes when `bytes - rest` are sent.
        const at = begin + stepSeconds * Math.min(1, (bytes - rest) / capacity);
        const age = at - ((ring[h << 2] as number) + 1) * stepSeconds;
        if (age > this.worstCrossing) this.worstCrossing = age;
        h = (h + 1) & mask;
        count--;
      } else {
        const after = have - rest;
        rest = 0;
        if (after <= DUST) {
          h = (h + 1) & mask;
          count--;
        } else ring[(h << 2) + 1] = after;
      }
    }
    this.head[v] = h;
    this.count[v] = count;
    return rest;
  }

  /** When VPG v's oldest unsent byte arrived (s): its segment's step plus the share sent. */
  oldestArrival(v: number, stepSeconds: number): number {
    const ring = this.rings[v] as Float64Array;
    const at = (this.head[v] as number) << 2;
    const consumed = 1 - (ring[at + 1] as number) / (ring[at + 2] as number);
    return ((ring[at] as number) + consumed) * stepSeconds;
  }

  private grow(v: number): Float64Array {
    const old = this.rings[v] as Float64Array;
    const ring = new Float64Array(old.length * 2);
    const head = (this.head[v] as number) << 2;
    // Unroll the ring into the front of the new one, oldest first.
    ring.set(old.subarray(head), 0);
    ring.set(old.subarray(0, head), old.length - head);
    this.rings[v] = ring;
    this.head[v] = 0;
    return ring;
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
  active: Int32Array,
): void {
  let count = 0;
  for (let v = 0; v < demand.length; v++) if ((demand[v] as number) > 0) active[count++] = v;
  let remaining = link;
  while (count > 0 && remaining > 0) {
    let weight = 0;
    for (let i = 0; i < count; i++) weight += backlog[active[i] as number] as number;
    // Newest first, as the capped ones are taken out (the order fixes the float sums).
    let capped = false;
    for (let i = count - 1; i >= 0; i--) {
      const v = active[i] as number;
      const want = (demand[v] as number) - (send[v] as number);
      if ((remaining * (backlog[v] as number)) / weight >= want) {
        send[v] = demand[v] as number;
        remaining -= want;
        active[i] = -1;
        capped = true;
      }
    }
    if (capped) {
      let kept = 0;
      for (let i = 0; i < count; i++) {
        const v = active[i] as number;
        if (v >= 0) active[kept++] = v;
      }
      count = kept;
      continue;
    }
    for (let i = 0; i < count; i++) {
      const v = active[i] as number;
      send[v] = (send[v] as number) + (remaining * (backlog[v] as number)) / weight;
    }
    remaining = 0;
  }
}
