import { pino, type Logger } from 'pino';
import { consoleLogRing } from './log-ring';

export type { Logger } from 'pino';

/**
 * Structured logs on stderr (stdout belongs to the CLI's own output), and the recent ones in
 * memory for support bundles (log-ring.ts). Tokens never reach a
 * log line: nothing logs them on purpose, and these paths are redacted in case one slips in.
 */
export function createLogger(
  name: string,
  level = process.env['TIDELINE_LOG_LEVEL'] ?? 'info',
): Logger {
  // A silent logger writes nothing; its streams still need a real level.
  const streamLevel = (level === 'silent' ? 'fatal' : level) as pino.Level;
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['token', '*.token', 'headers.authorization', '*.headers.authorization', 'cookie'],
        censor: '[redacted]',
      },
    },
    pino.multistream([
      { level: streamLevel, stream: pino.destination(2) },
      { level: streamLevel, stream: consoleLogRing },
    ]),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
