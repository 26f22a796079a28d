/*
 * The planner (README.md): predicts the RPO a calendar policy will give from measured or
 * synthetic change rates, and suggests the least bandwidth per timeframe and the journal
 * size. Pure: no I/O, no clock; the console core and the renderer (in a worker) call it.
 */
export { planLink } from './plan';
export { simulate, type SimInput } from './fluid-queue';
export { busiestWindowBytes, percentile, rpoAlerts } from './forecast';
export type * from './planner-types';
export {
  MINUTES_PER_WEEK,
  PROFILE_TEMPLATES,
  TEMPLATE_NAMES,
  parseRatesCsv,
  templateProfile,
  type CsvProfile,
  type ProfileTemplate,
} from './profiles';
export { measuredProfile, type MeasuredPoint, type MeasuredProfile } from './measured-profile';
export {
  historyPoints,
  linkPlanInput,
  type LinkPlanInput,
  type LinkPlanRequest,
  type PlannedVpg,
  type ProfileChoice,
} from './link-input';
export {
  REPEATED_MISS_MIN_DAYS,
  REPEATED_MISS_WINDOW_DAYS,
  repeatedMisses,
  type RepeatedMiss,
} from './repeated-misses';
