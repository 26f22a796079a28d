import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured logs on stderr (stdout belongs to the CLI's own output). Tokens never reach a
 * log line: nothing logs them on purpose, and these paths are redacted in case one slips in.
 */
export function createLogger(
  name: string,
  level = process.env['TIDELINE_LOG_LEVEL'] ?? 'info',
): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['token', '*.token', 'headers.authorization', '*.headers.authorization', 'cookie'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
