import type { Logger } from '../log';

/** What refusal helpers log to: a pino logger, or a RefusalLog in front of one. */
export interface RefusalSink {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface RefusalLogOptions {
  readonly log: Logger;
  /** Names the refusals in the summary line: "312 refused peer connections from …". */
  readonly what: string;
  /** Sources whose refusals are counted apart; past it they are counted together. */
  readonly maxSources?: number;
  readonly windowMs?: number;
  /** What refusals are counted by, from their log fields (default: `source` and `reason`). */
  readonly keyOf?: (fields: Record<string, unknown>) => string;
}

interface Window {
  count: number;
  readonly firstMessage: string;
}

/** "10.0.0.5 (not-paired)": a source, and the reason when there is one. */
function defaultKey(fields: Record<string, unknown>): string {
  const source = typeof fields['source'] === 'string' ? fields['source'] : 'unknown';
  return typeof fields['reason'] === 'string' ? `${source} (${fields['reason']})` : source;
}

/**
 * Rate-limits refusal log lines, so a flood of bad connections cannot fill the disk the
 * journal shares: the first refusal of each source and reason in a window is logged in full
 * (so an admin still sees why a real site was refused), the rest are counted and summarised
 * once the window ends ("312 refused peer connections from 10.0.0.5 (busy) in the last
 * minute"). Memory is bounded by `maxSources`.
 */
export class RefusalLog implements RefusalSink {
  private readonly sources = new Map<string, Window>();
  private overflow = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxSources: number;
  private readonly windowMs: number;

  constructor(private readonly options: RefusalLogOptions) {
    this.maxSources = options.maxSources ?? 256;
    this.windowMs = options.windowMs ?? 60_000;
  }

  warn(fields: Record<string, unknown>, message: string): void {
    const source = this.options.keyOf?.(fields) ?? defaultKey(fields);
    const seen = this.sources.get(source);
    if (seen !== undefined) {
      seen.count += 1;
    } else if (this.sources.size >= this.maxSources) {
      this.overflow += 1;
    } else {
      this.sources.set(source, { count: 1, firstMessage: message });
      this.options.log.warn(fields, message);
    }
    this.timer ??= setTimeout(() => this.flush(), this.windowMs).unref();
  }

  /** Writes the summaries of the window so far and starts a new one. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { log, what } = this.options;
    const minutes = this.windowMs === 60_000 ? 'minute' : `${Math.round(this.windowMs / 1000)} s`;
    for (const [source, window] of this.sources) {
      if (window.count < 2) continue;
      log.warn(
        { source, refused: window.count, first: window.firstMessage },
        `${window.count} ${what} from ${source} in the last ${minutes}`,
      );
    }
    if (this.overflow > 0) {
      log.warn(
        { refused: this.overflow, sources: `more than ${this.maxSources}` },
        `${this.overflow} ${what} from other sources in the last ${minutes}`,
      );
    }
    this.sources.clear();
    this.overflow = 0;
  }

  stop(): void {
    this.flush();
  }
}
