import { TidelineError } from '../../app/errors';
import { Errno, type ErrnoValue } from './protocol';

const BY_CODE: Readonly<Record<string, ErrnoValue>> = {
  ENOSPC: Errno.ENOSPC,
  EDQUOT: Errno.ENOSPC,
  EFBIG: Errno.ENOSPC,
  EIO: Errno.EIO,
  EPERM: Errno.EPERM,
  EACCES: Errno.EPERM,
  EROFS: Errno.EPERM,
  EINVAL: Errno.EINVAL,
  ENOMEM: Errno.ENOMEM,
};

/**
 * The errno an NBD client gets for a failed request: the file system's own code when there is
 * one (also when the source pipeline wrapped it in a message), EINVAL for a request the tap
 * found invalid, EIO for everything else (a VPG in error, a detached disk, …).
 */
export function errnoOf(err: unknown): ErrnoValue {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    const direct = BY_CODE[code];
    if (direct !== undefined) return direct;
  }
  if (err instanceof TidelineError) {
    if (err.code === 'INVALID_PARAMS') return Errno.EINVAL;
    const named = /\b(ENOSPC|EDQUOT|EFBIG|EROFS|EACCES|EPERM)\b/.exec(err.message);
    if (named?.[1] !== undefined) return BY_CODE[named[1]] ?? Errno.EIO;
  }
  return Errno.EIO;
}
