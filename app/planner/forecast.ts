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
): TimeframeForecast[] {
  const byFrame = new Map<number, number[]>();
  for (let s = 0; s < rpo.length; s++) {
    const f = frame[s] as number;
    let list = byFrame.get(f);
    if (list === undefined) byFrame.set(f, (list = []));
    list.push(s);
  }
  const alerts = rpoAlerts(rpo, target, start, stepSeconds, graceSeconds);
  const out: TimeframeForecast[] = [];
  for (const [f, steps] of byFrame) {
    const values = steps.map((s) => rpo[s] as number);
    const worst = Math.max(...values);
    const p95 = percentile(values, 0.95);
    const over = steps.filter((s) => (rpo[s] as number) > (target[s] as number)).length;
    const targetHere = Math.min(...steps.map((s) => target[s] as number));
    const mine = alerts.filter((a) => {
      const first = Math.floor((a.from - start) / 1000 / stepSeconds);
      return frame[first] === f;
    });
    const verdict =
      mine.length > 0 ? 'missed' : over > 0 || p95 > 0.8 * targetHere ? 'at-risk' : 'met';
    out.push({
      frame: frames[f] as FrameRef,
      rpoTargetSeconds: targetHere,
      steps: steps.length,
      worstRpoSeconds: worst,
      p95RpoSeconds: p95,
      stepsOverTarget: over,
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
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1] as number;
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
