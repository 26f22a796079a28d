import type { FrameRef, RpoAlert, TimeframeForecast } from './planner-types';

/**
 * Per timeframe of one VPG: worst and 95th-percentile RPO over its steps, the steps above
 * target, and the RPO alerts the agent would raise (above target for `graceSeconds` in a
 * row). Verdict: missed (an alert), at risk (above target, but never for the grace period,
 * or the 95th percentile above 80% of the target), met.
 */
export function forecastTimeframes(
  rpo: Float64Array,
  target: Float64Array,
  frame: Int32Array,
  frames: readonly FrameRef[],
  start: number,
  stepSeconds: number,
  graceSeconds: number,
  /** Working space, reused from VPG to VPG: a new one when shorter than `rpo`. */
  scratch = new Float64Array(0),
): TimeframeForecast[] {
  // The frames in the order they first appear; their steps' RPOs grouped, in step order.
  const order: number[] = [];
  const counts = new Int32Array(frames.length);
  for (let s = 0; s < rpo.length; s++) {
    const f = frame[s] as number;
    if (counts[f] === 0) order.push(f);
    counts[f] = (counts[f] as number) + 1;
  }
  const offset = new Int32Array(frames.length);
  let next = 0;
  for (const f of order) {
    offset[f] = next;
    next += counts[f] as number;
  }
  const values = scratch.length >= rpo.length ? scratch : new Float64Array(rpo.length);
  const fill = offset.slice();
  const worst = new Float64Array(frames.length).fill(-Infinity);
  const over = new Int32Array(frames.length);
  const targetHere = new Float64Array(frames.length).fill(Infinity);
  for (let s = 0; s < rpo.length; s++) {
    const f = frame[s] as number;
    const value = rpo[s] as number;
    const t = target[s] as number;
    values[(fill[f] as number)++] = value;
    worst[f] = Math.max(worst[f] as number, value);
    if (value > t) over[f] = (over[f] as number) + 1;
    targetHere[f] = Math.min(targetHere[f] as number, t);
  }
  const alerts = rpoAlerts(rpo, target, start, stepSeconds, graceSeconds);
  const out: TimeframeForecast[] = [];
  for (const f of order) {
    const from = offset[f] as number;
    const p95 = nearestRank(values.subarray(from, from + (counts[f] as number)), 0.95);
    const mine = alerts.filter((a) => {
      const first = Math.floor((a.from - start) / 1000 / stepSeconds);
      return frame[first] === f;
    });
    const frameTarget = targetHere[f] as number;
    const verdict =
      mine.length > 0
        ? 'missed'
        : (over[f] as number) > 0 || p95 > 0.8 * frameTarget
          ? 'at-risk'
          : 'met';
    out.push({
      frame: frames[f] as FrameRef,
      rpoTargetSeconds: frameTarget,
      steps: counts[f] as number,
      worstRpoSeconds: worst[f] as number,
      p95RpoSeconds: p95,
      stepsOverTarget: over[f] as number,
      alerts: mine,
      verdict,
    });
  }
  return out;
}

/** Runs of steps with the RPO above target lasting at least the grace period. */
export function rpoAlerts(
  rpo: Float64Array,
  target: Float64Array,
  start: number,
  stepSeconds: number,
  graceSeconds: number,
): RpoAlert[] {
  const out: RpoAlert[] = [];
  let runStart = -1;
  let worst = 0;
  const close = (end: number): void => {
    if (runStart >= 0 && (end - runStart) * stepSeconds >= graceSeconds) {
      out.push({
        from: start + runStart * stepSeconds * 1000,
        until: start + end * stepSeconds * 1000,
        worstRpoSeconds: worst,
      });
    }
    runStart = -1;
    worst = 0;
  };
  for (let s = 0; s < rpo.length; s++) {
    if ((rpo[s] as number) > (target[s] as number)) {
      if (runStart < 0) runStart = s;
      worst = Math.max(worst, rpo[s] as number);
    } else close(s);
  }
  close(rpo.length);
  return out;
}

/** Nearest-rank percentile (p in 0..1) of the values. */
export function percentile(values: readonly number[], p: number): number {
  return nearestRank(Float64Array.from(values), p);
}

/**
 * Nearest-rank percentile of `values` (reordered in place): the value sorting would put at
 * that rank, found by selection in linear time, not a sort (the plan takes 95th
 * percentiles of every VPG's week).
 */
function nearestRank(values: Float64Array, p: number): number {
  if (values.length === 0) return 0;
  const k = Math.max(1, Math.ceil(p * values.length)) - 1;
  // Hoare's quickselect, the pivot the median of three: the kth smallest ends at k.
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = values[lo] as number;
    const y = values[mid] as number;
    const z = values[hi] as number;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((values[i] as number) < pivot) i++;
      while ((values[j] as number) > pivot) j--;
      if (i <= j) {
        const t = values[i] as number;
        values[i++] = values[j] as number;
        values[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k] as number;
  }
  return values[k] as number;
}

/** Bytes written in the busiest window of `windowSeconds` (sliding over the repeating week). */
export function busiestWindowBytes(
  rates: ArrayLike<number>,
  stepSeconds: number,
  windowSeconds: number,
): number {
  const n = rates.length;
  if (n === 0) return 0;
  const width = Math.max(1, Math.round(windowSeconds / stepSeconds));
  const whole = Math.floor(width / n);
  const part = width % n;
  let week = 0;
  for (let s = 0; s < n; s++) week += (rates[s] as number) * stepSeconds;
  // `whole` entire weeks, plus the busiest `part` consecutive steps (wrapping).
  let sum = 0;
  for (let s = 0; s < part; s++) sum += (rates[s] as number) * stepSeconds;
  let best = sum;
  for (let s = 0; s < n && part > 0; s++) {
    sum += ((rates[(s + part) % n] as number) - (rates[s] as number)) * stepSeconds;
    best = Math.max(best, sum);
  }
  return whole * week + (part > 0 ? best : 0);
}
