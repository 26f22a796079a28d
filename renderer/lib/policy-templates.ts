import type { Policy, Timeframe } from '../../app/policy/policy-schemas';

/** Starting points an admin can pick and then adjust. */
export interface PolicyTemplate {
  readonly key: string;
  readonly label: string;
  readonly build: (
    timeZone: string,
    newId: () => string,
  ) => Pick<Policy, 'default' | 'timeframes'> & {
    timeZone: string;
  };
}

const mbit = (n: number): number => n * 1_000_000;

export const POLICY_TEMPLATES: readonly PolicyTemplate[] = [
  {
    key: 'business-hours',
    label: 'Business hours',
    build: (timeZone, newId) => ({
      timeZone,
      default: { rpoTargetSeconds: 60, replicationBitsPerSecond: mbit(200) },
      timeframes: [
        tf(newId(), 'Business hours', '#1e88e5', [1, 2, 3, 4, 5], '08:00', '18:00', 900, mbit(20)),
      ],
    }),
  },
  {
    key: 'nights-weekends',
    label: 'Nights and weekends',
    build: (timeZone, newId) => ({
      timeZone,
      default: { rpoTargetSeconds: 900, replicationBitsPerSecond: mbit(20) },
      timeframes: [
        tf(newId(), 'Nights', '#8e24aa', [1, 2, 3, 4, 5, 7], '20:00', '06:00', 60, mbit(200)),
        tf(newId(), 'Saturday', '#43a047', [6], '06:00', '24:00', 300, mbit(100)),
        tf(newId(), 'Sunday', '#43a047', [7], '00:00', '20:00', 300, mbit(100)),
      ],
    }),
  },
];

function tf(
  id: string,
  name: string,
  colour: string,
  days: Timeframe['days'],
  start: string,
  end: string,
  rpoTargetSeconds: number,
  replicationBitsPerSecond: number,
): Timeframe {
  return { id, name, colour, days, start, end, rpoTargetSeconds, replicationBitsPerSecond };
}
