import { mkdirSync } from 'node:fs';
import pino, { type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export interface AgentLog {
  readonly log: Logger;
  /** Writes out anything buffered (call before exit). */
  flush(): void;
}

/**
 * JSON-lines logs to the data directory's log file and to stdout, written synchronously in
 * this thread (no pino.transport worker: the agent is one bundled file, and a crash must not
 * lose the lines that explain it). Secrets are redacted by key wherever they appear.
 */
export function createAgentLog(options: {
  readonly logFile: string;
  readonly logsDir: string;
  readonly level: Level;
}): AgentLog {
  mkdirSync(options.logsDir, { recursive: true, mode: 0o750 });
  const file = pino.destination({ dest: options.logFile, sync: true, mkdir: true });
  const stdout = pino.destination({ dest: 1, sync: true });
  const log = pino(
    {
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'headers.authorization',
          '*.headers.authorization',
        ],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.multistream([
      { stream: file, level: options.level },
      { stream: stdout, level: options.level },
    ]),
  );
  return {
    log,
    flush: () => {
      for (const dest of [file, stdout]) {
        try {
          dest.flushSync();
        } catch {
          // nothing buffered, or the stream is gone: nothing left to save
        }
      }
    },
  };
}
