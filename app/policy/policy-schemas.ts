import { z } from 'zod';
import { IdSchema } from '../protocol/common';

/**
 * Calendar policies: weekly timeframes, each with an RPO target and bandwidth limits, plus a
 * default for uncovered time, evaluated in the site's IANA time zone. One pure module
 * (app/policy) validates and evaluates them for the agent (enforcement), the console
 * (drawing) and the planner.
 */

/** 2: dated exceptions (version 1 is read as version 2 without any). */
export const POLICY_SCHEMA_VERSION = 2;

/** ISO day of week: 1 = Monday … 7 = Sunday. */
export const DayOfWeekSchema = z.number().int().min(1).max(7);
export type DayOfWeek = z.infer<typeof DayOfWeekSchema>;

/** Wall-clock time "HH:MM" in the policy's time zone; "24:00" only as an end. */
export const TimeOfDaySchema = z
  .string()
  .regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'use HH:MM, 00:00 to 24:00');
export type TimeOfDay = z.infer<typeof TimeOfDaySchema>;

/** Bits per second; absent = no limit. Capped at 1 Tbit/s to catch unit mistakes. */
const BitsPerSecond = z
  .number()
  .int('bandwidth must be a whole number of bit/s')
  .positive('bandwidth must be above 0 (leave it empty for no limit)')
  .max(1e12, 'bandwidth must be at most 1 Tbit/s');

/** 1 s to 24 h. */
const RpoTargetSeconds = z
  .number()
  .int('RPO target must be a whole number of seconds')
  .positive('RPO target must be at least 1 second')
  .max(24 * 3600, 'RPO target must be at most 24 hours');

export const TimeframeSchema = z.object({
  id: IdSchema,
  name: z.string().trim().min(1).max(80),
  /** "#rrggbb" for the calendar. */
  colour: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'use a colour like #1e88e5'),
  /** The days on which the timeframe starts. */
  days: z.array(DayOfWeekSchema).min(1, 'pick at least one day'),
  start: TimeOfDaySchema,
  /** At or before `start`: the timeframe ends the next day (it crosses midnight). */
  end: TimeOfDaySchema,
  rpoTargetSeconds: RpoTargetSeconds,
  replicationBitsPerSecond: BitsPerSecond.optional(),
  seedingBitsPerSecond: BitsPerSecond.optional(),
});
export type Timeframe = z.infer<typeof TimeframeSchema>;

export const PolicyDefaultSchema = z.object({
  rpoTargetSeconds: RpoTargetSeconds,
  replicationBitsPerSecond: BitsPerSecond.optional(),
  seedingBitsPerSecond: BitsPerSecond.optional(),
});
export type PolicyDefault = z.infer<typeof PolicyDefaultSchema>;

/** A calendar date "YYYY-MM-DD" (a day in the policy's time zone). */
export const DateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'use a date like 2026-12-24')
  .refine((d) => {
    const [y, m, day] = d.split('-').map(Number) as [number, number, number];
    const t = new Date(Date.UTC(y, m - 1, day));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === day;
  }, 'not a date of the calendar');

/**
 * When an exception applies: every day of [from, to] ('once'); those days every year
 * ('yearly'); or the last weekday (Monday–Friday) of each month within [from, to]
 * ('last-business-day').
 */
export const RecurrenceSchema = z.enum(['once', 'yearly', 'last-business-day']);
export type Recurrence = z.infer<typeof RecurrenceSchema>;

/**
 * A dated override (month end, a holiday, a migration weekend): whole days in the policy's
 * zone, with its own target and bandwidth, taking precedence over the weekly timeframes.
 */
export const DateExceptionSchema = z.object({
  id: IdSchema,
  name: z.string().trim().min(1).max(80),
  colour: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'use a colour like #1e88e5'),
  from: DateSchema,
  /** Inclusive. */
  to: DateSchema,
  recurrence: RecurrenceSchema,
  rpoTargetSeconds: RpoTargetSeconds,
  replicationBitsPerSecond: BitsPerSecond.optional(),
  seedingBitsPerSecond: BitsPerSecond.optional(),
});
export type DateException = z.infer<typeof DateExceptionSchema>;

/**
 * The shape only; validatePolicy (app/policy) adds the rules an admin needs explained
 * (overlaps, a known time zone, …). Version 1 (no exceptions) is still read as it is: a
 * version-1 policy is a version-2 policy without exceptions; migratePolicy writes it as 2.
 */
export const PolicySchema = z.object({
  schemaVersion: z.union([z.literal(1), z.literal(POLICY_SCHEMA_VERSION)]),
  /** Bumped by the agent on every policy.set; a draft keeps the version it started from. */
  version: z.number().int().nonnegative(),
  /** IANA time zone of the site, e.g. Europe/Berlin. */
  timeZone: z.string().min(1).max(64),
  default: PolicyDefaultSchema,
  timeframes: z.array(TimeframeSchema).max(200),
  /** Absent in version 1: none. */
  exceptions: z.array(DateExceptionSchema).max(200).optional(),
});
export type Policy = z.infer<typeof PolicySchema>;

/** What a policy is bound to: a site link (pair of agents) or one VPG, which overrides it. */
export const PolicyTargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('link'), peerAgentId: IdSchema }),
  z.strictObject({ kind: z.literal('vpg'), vpgId: IdSchema }),
]);
export type PolicyTarget = z.infer<typeof PolicyTargetSchema>;

/** A validation finding: where and what, for the admin. */
export const PolicyIssueSchema = z.object({
  path: z.string(),
  message: z.string(),
});
export type PolicyIssue = z.infer<typeof PolicyIssueSchema>;

/** The limits and target in force over a stretch of time [from, until). */
export const InForceSchema = z.object({
  /** Undefined: the default (or an exception) applies. */
  timeframeId: IdSchema.optional(),
  /** A dated exception applies. */
  exceptionId: IdSchema.optional(),
  timeframeName: z.string(),
  rpoTargetSeconds: z.number().int().positive(),
  replicationBitsPerSecond: z.number().int().positive().optional(),
  seedingBitsPerSecond: z.number().int().positive().optional(),
  from: z.number().int(),
  /** The next change (ms since the epoch). */
  until: z.number().int(),
});
export type InForce = z.infer<typeof InForceSchema>;
