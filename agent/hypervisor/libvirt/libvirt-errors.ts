import { TidelineError, type ErrorCodeName } from '../../../app/errors';

/** libvirt's message (its error domain's wording) → the product's error code. */
const CLASSES: readonly (readonly [RegExp, ErrorCodeName])[] = [
  [
    /not found|no (domain|network|storage pool|storage vol)[^:]* with matching|failed to get (domain|network|pool|vol)/i,
    'NOT_FOUND',
  ],
  [/already exists|already in use|is already (active|defined)/i, 'CONFLICT'],
  [/requested operation is not valid|domain is not running|is not active/i, 'CONFLICT'],
  [/not supported|unsupported configuration|this function is not supported/i, 'UNAVAILABLE'],
  [/failed to connect|cannot recv data|end of file|connection reset|disconnected/i, 'UNAVAILABLE'],
  [/timed out|timeout/i, 'TIMEOUT'],
  [/permission denied|access denied|authentication/i, 'UNAUTHORIZED'],
  [
    /invalid argument|XML error|XML document failed to validate|unsupported|expected/i,
    'INVALID_PARAMS',
  ],
];

/**
 * A failed virsh command as an admin reads it: the command, then libvirt's own words (its
 * last line is the most specific), with a code the callers can act on (NOT_FOUND, CONFLICT…).
 */
export function libvirtError(args: readonly string[], messages: readonly string[]): TidelineError {
  const libvirt = messages.join('; ');
  const code = CLASSES.find(([pattern]) => pattern.test(libvirt))?.[1] ?? 'INTERNAL_ERROR';
  return new TidelineError(code, `virsh ${describeCommand(args)} failed: ${libvirt}`, {
    command: args[0],
    libvirt,
  });
}

/** The command as an admin would type it in a shell. */
export function describeCommand(args: readonly string[]): string {
  return args
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'"'"'`)}'`))
    .join(' ');
}

/** The error's libvirt message, if it came from libvirt. */
export function libvirtMessage(err: unknown): string | undefined {
  if (!(err instanceof TidelineError)) return undefined;
  const text = err.data?.libvirt;
  return typeof text === 'string' ? text : undefined;
}
