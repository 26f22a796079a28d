import type { Policy, Timeframe } from '../../app/policy/policy-schemas';

/** RPO targets and bandwidths in the units an admin uses, to and from the policy's. */

export type RpoUnit = 's' | 'min' | 'h';
export const RPO_UNITS: Readonly<Record<RpoUnit, number>> = { s: 1, min: 60, h: 3600 };

export type RateUnit = 'Mbit/s' | 'Gbit/s' | 'unlimited';
export const RATE_UNITS: Readonly<Record<Exclude<RateUnit, 'unlimited'>, number>> = {
  'Mbit/s': 1e6,
  'Gbit/s': 1e9,
};

export interface RpoInput {
  readonly value: string;
  readonly unit: RpoUnit;
}
export interface RateInput {
  readonly value: string;
  readonly unit: RateUnit;
}

/** The largest unit that shows the value as a whole number. */
export function rpoInput(seconds: number): RpoInput {
  if (seconds % 3600 === 0) return { value: String(seconds / 3600), unit: 'h' };
  if (seconds % 60 === 0) return { value: String(seconds / 60), unit: 'min' };
  return { value: String(seconds), unit: 's' };
}

export function rateInput(bits: number | undefined): RateInput {
  if (bits === undefined) return { value: '', unit: 'unlimited' };
  if (bits % 1e9 === 0) return { value: String(bits / 1e9), unit: 'Gbit/s' };
  return { value: String(Number((bits / 1e6).toFixed(3))), unit: 'Mbit/s' };
}

/** Seconds, or a message for the field. */
export function parseRpo(input: RpoInput): number | string {
  const n = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(n) || n <= 0) return 'enter a positive number';
  const seconds = Math.round(n * RPO_UNITS[input.unit]);
  if (seconds > 24 * 3600) return 'at most 24 h';
  return seconds;
}

/** Bits per second (undefined: unlimited), or a message for the field. */
export function parseRate(input: RateInput): number | undefined | string {
  if (input.unit === 'unlimited') return undefined;
  const n = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(n) || n <= 0) return 'enter a positive number';
  return Math.round(n * RATE_UNITS[input.unit]);
}

export function formatRpo(seconds: number): string {
  const { value, unit } = rpoInput(seconds);
  return `${value} ${unit}`;
}

export function formatRate(bits: number | undefined): string {
  if (bits === undefined) return 'unlimited';
  const { value, unit } = rateInput(bits);
  return `${value} ${unit}`;
}

export type Limits = Pick<
  Timeframe,
  'rpoTargetSeconds' | 'replicationBitsPerSecond' | 'seedingBitsPerSecond'
>;

export function formatLimits(l: Limits): string {
  return `RPO ${formatRpo(l.rpoTargetSeconds)} · ${formatRate(l.replicationBitsPerSecond)} · seeding ${formatRate(l.seedingBitsPerSecond)}`;
}

/** A palette for new timeframes, picked in turn. */
export const TIMEFRAME_COLOURS = ['#1e88e5', '#8e24aa', '#43a047', '#fb8c00', '#e53935', '#00897b'];

export function nextColour(policy: Policy): string {
  return TIMEFRAME_COLOURS[policy.timeframes.length % TIMEFRAME_COLOURS.length] ?? '#1e88e5';
}
