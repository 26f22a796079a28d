/**
 * The console's recent log lines, in memory: the console logs to stderr only (Electron has no
 * terminal an admin would keep), so a support bundle takes its log from here. Bounded by
 * bytes: the oldest lines go first.
 */
export class LogRing {
  private readonly lines: string[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes = 4 * 1024 * 1024) {}

  /** pino's destination interface: one or more serialized lines. */
  write(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      const kept = line.length > this.maxBytes ? line.slice(0, this.maxBytes) : line;
      this.lines.push(kept);
      this.bytes += kept.length;
    }
    while (this.bytes > this.maxBytes && this.lines.length > 0) {
      this.bytes -= (this.lines.shift() as string).length;
    }
  }

  snapshot(): string[] {
    return [...this.lines];
  }
}

/** Every logger made by createLogger writes here too. */
export const consoleLogRing = new LogRing();
