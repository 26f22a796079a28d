import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Level, type Logger } from 'pino';
import roll from 'pino-roll';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export interface AgentLog {
  readonly log: Logger;
  /** Writes out anything buffered (call before exit). */
  flush(): void;
}

/** Log files roll at this size, and this many old ones are kept: at most 200 MiB in all. */
export const LOG_FILE_BYTES = 20 * 1024 * 1024;
export const LOG_FILES_KEPT = 9;

/**
 * JSON-lines logs to the data directory's logs/ and to stdout, written synchronously in this
 * thread (no pino.transport worker: the agent is one bundled file, and a crash must not lose
 * the lines that explain it). The files roll by size with pino-roll (agent.1.log, agent.2.log,
 * …; logs/current.log links to the one being written) and the oldest are removed, so the logs
 * never take more than LOG_FILE_BYTES × (LOG_FILES_KEPT + 1) of the disk the journal shares.
 * Secrets are redacted by key wherever they appear.
 */
export async function createAgentLog(options: {
  readonly logsDir: string;
  readonly level: Level;
  /** Tests: smaller files. */
  readonly fileBytes?: number;
}): Promise<AgentLog> {
  mkdirSync(options.logsDir, { recursive: true, mode: 0o750 });
  const file = await roll({
    file: join(options.logsDir, 'agent'),
    extension: '.log',
    // pino-roll reads a bare number as MB: give KiB explicitly.
    size: `${Math.ceil((options.fileBytes ?? LOG_FILE_BYTES) / 1024)}k`,
    limit: { count: LOG_FILES_KEPT },
    symlink: true,
    sync: true,
  });
  const stdout = pino.destination({ dest: 1, sync: true });
  // A full disk (or a dead one) must not take the agent down with its log: sonic-boom throws
  // from write() unless someone listens for its errors. Lines go on to stdout meanwhile.
  let failing = false;
  file.on('error', (err: NodeJS.ErrnoException) => {
    if (failing) return;
    failing = true;
    stdout.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), pid: process.pid, code: err.code, msg: 'cannot write the log file: lines go to stdout only until it can be written again' })}\n`,
    );
  });
  file.on('write', () => {
    failing = false;
  });
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
