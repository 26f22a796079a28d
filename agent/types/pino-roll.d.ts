// pino-roll 4 ships no types: what agent/log.ts uses of it.
declare module 'pino-roll' {
  import type SonicBoom from 'sonic-boom';

  interface PinoRollOptions {
    /** The base path; files are `<file>.<n><extension>`. */
    readonly file: string;
    readonly extension?: string;
    /** "20m", "512k"; a bare number is MB. */
    readonly size?: number | string;
    readonly frequency?: 'daily' | 'hourly' | number;
    readonly limit?: { readonly count: number; readonly removeOtherLogFiles?: boolean };
    /** Keeps `current.log` beside the files, linked to the one being written. */
    readonly symlink?: boolean;
    readonly mkdir?: boolean;
    readonly sync?: boolean;
  }

  export default function roll(options: PinoRollOptions): Promise<SonicBoom>;
}
