import type { DateException, Policy, PolicyDefault, Timeframe } from './policy-schemas';

/** One field of a timeframe or of the default that differs, as plain values for display. */
export interface FieldChange {
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface TimeframeChange {
  readonly id: string;
  readonly name: string;
  readonly changes: readonly FieldChange[];
}

/** What applying `next` over `current` changes; timeframes are matched by id. */
export interface PolicyDiff {
  readonly added: readonly Timeframe[];
  readonly removed: readonly Timeframe[];
  readonly changed: readonly TimeframeChange[];
  readonly defaultChanges: readonly FieldChange[];
  /** Dated exceptions, matched by id as timeframes are. */
  readonly exceptions: {
    readonly added: readonly DateException[];
    readonly removed: readonly DateException[];
    readonly changed: readonly TimeframeChange[];
  };
  readonly timeZone?: { readonly from: string | undefined; readonly to: string };
  /** Nothing would change. */
  readonly empty: boolean;
}

const TIMEFRAME_FIELDS = [
  'name',
  'colour',
  'days',
  'start',
  'end',
  'rpoTargetSeconds',
  'replicationBitsPerSecond',
  'seedingBitsPerSecond',
] as const satisfies readonly (keyof Timeframe)[];

const EXCEPTION_FIELDS = [
  'name',
  'colour',
  'from',
  'to',
  'recurrence',
  'rpoTargetSeconds',
  'replicationBitsPerSecond',
  'seedingBitsPerSecond',
] as const satisfies readonly (keyof DateException)[];

const DEFAULT_FIELDS = [
  'rpoTargetSeconds',
  'replicationBitsPerSecond',
  'seedingBitsPerSecond',
] as const satisfies readonly (keyof PolicyDefault)[];

/** `current` undefined: the agent has no policy bound, so everything in `next` is added. */
export function diffPolicies(current: Policy | undefined, next: Policy): PolicyDiff {
  const before = new Map((current?.timeframes ?? []).map((t) => [t.id, t]));
  const after = new Map(next.timeframes.map((t) => [t.id, t]));
  const added = next.timeframes.filter((t) => !before.has(t.id));
  const removed = (current?.timeframes ?? []).filter((t) => !after.has(t.id));
  const changed: TimeframeChange[] = [];
  for (const t of next.timeframes) {
    const old = before.get(t.id);
    if (old === undefined) continue;
    const changes = fieldChanges(old, t, TIMEFRAME_FIELDS);
    if (changes.length > 0) changed.push({ id: t.id, name: t.name, changes });
  }
  const defaultChanges = current
    ? fieldChanges(current.default, next.default, DEFAULT_FIELDS)
    : DEFAULT_FIELDS.filter((f) => next.default[f] !== undefined).map((field) => ({
        field,
        from: undefined,
        to: next.default[field],
      }));
  const oldExceptions = new Map((current?.exceptions ?? []).map((e) => [e.id, e]));
  const newExceptions = new Map((next.exceptions ?? []).map((e) => [e.id, e]));
  const exceptions = {
    added: (next.exceptions ?? []).filter((e) => !oldExceptions.has(e.id)),
    removed: (current?.exceptions ?? []).filter((e) => !newExceptions.has(e.id)),
    changed: (next.exceptions ?? []).flatMap((e) => {
      const old = oldExceptions.get(e.id);
      const changes = old === undefined ? [] : fieldChanges(old, e, EXCEPTION_FIELDS);
      return changes.length > 0 ? [{ id: e.id, name: e.name, changes }] : [];
    }),
  };
  const timeZone =
    current?.timeZone === next.timeZone
      ? undefined
      : { from: current?.timeZone, to: next.timeZone };
  return {
    added,
    removed,
    changed,
    defaultChanges,
    exceptions,
    ...(timeZone && { timeZone }),
    empty:
      added.length +
        removed.length +
        changed.length +
        defaultChanges.length +
        exceptions.added.length +
        exceptions.removed.length +
        exceptions.changed.length ===
        0 && timeZone === undefined,
  };
}

function fieldChanges<T extends object>(
  from: T,
  to: T,
  fields: readonly (keyof T & string)[],
): FieldChange[] {
  return fields
    .filter((f) => !sameValue(from[f], to[f]))
    .map((field) => ({ field, from: from[field], to: to[field] }));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    // Days are a set: [1,2] and [2,1] are the same week.
    const sa = [...(a as unknown[])].map(String).sort();
    const sb = [...(b as unknown[])].map(String).sort();
    return sa.length === sb.length && sa.every((v, i) => v === sb[i]);
  }
  return a === b;
}
