/**
 * RPO math, one pure definition for agent, console and planner: a VPG's current RPO is now
 * minus the source time of the newest checkpoint fully persisted at the recovery site.
 */
export function currentRpoSeconds(
  nowMs: number,
  newestConfirmedSourceTimeMs: number | undefined,
): number | undefined {
  if (newestConfirmedSourceTimeMs === undefined) return undefined;
  return Math.max(0, (nowMs - newestConfirmedSourceTimeMs) / 1000);
}

/** Whether an RPO meets its target (an unknown RPO does not). */
export function rpoMet(rpoSeconds: number | undefined, targetSeconds: number): boolean {
  return rpoSeconds !== undefined && rpoSeconds <= targetSeconds;
}
