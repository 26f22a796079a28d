import { TidelineError } from '../../../app/errors';

/** Admin-readable errors of an agent connection; each says what happened and what to do. */

export function fingerprintMismatch(
  address: string,
  presented: string,
  pinned: string,
): TidelineError {
  return new TidelineError(
    'FINGERPRINT_MISMATCH',
    `The agent at ${address} presented certificate ${presented} but ${pinned} is pinned. ` +
      'If the agent was reinstalled, remove it and add it again; otherwise someone may be ' +
      'intercepting the connection.',
    { address, presented, pinned },
  );
}

export function unauthorized(address: string): TidelineError {
  return new TidelineError(
    'UNAUTHORIZED',
    `The agent at ${address} refused the token. Paste the admin token printed by ` +
      '"tideline-agent init" on that host (remove and add the agent again to change it).',
    { address },
  );
}

export function unreachable(address: string, reason: string): TidelineError {
  return new TidelineError(
    'UNAVAILABLE',
    `Could not reach the agent at ${address} (${reason}). Check the address and that ` +
      'tideline-agent is running and reachable from this computer.',
    { address },
  );
}

export function timedOut(address: string, what: string): TidelineError {
  return new TidelineError(
    'TIMEOUT',
    `The agent at ${address} did not answer in time (${what}). Check the network and the agent.`,
    { address },
  );
}

export function incompatible(address: string, detail: string): TidelineError {
  return new TidelineError(
    'PROTOCOL_VERSION',
    `The agent at ${address} speaks an incompatible protocol version: ${detail} ` +
      'Upgrade the agent or the console so that both support a common version.',
    { address },
  );
}

/** A short reason for a socket-level failure, without stack or internals. */
export function socketReason(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (code === 'ECONNREFUSED') return 'connection refused';
    if (code === 'ECONNRESET') return 'connection reset';
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'name not found';
    if (code === 'ETIMEDOUT') return 'connection timed out';
    if (typeof code === 'string') return code;
  }
  return 'connection failed';
}

/** agents.add: the same errors, but the pin is what the admin just confirmed, not a saved one. */
export function addRefused(err: unknown, confirmed: string): unknown {
  if (!(err instanceof TidelineError) || err.code !== 'FINGERPRINT_MISMATCH') return err;
  const address = String(err.data?.['address'] ?? '');
  const presented = String(err.data?.['presented'] ?? '');
  return new TidelineError(
    'FINGERPRINT_MISMATCH',
    `The agent at ${address} presented certificate ${presented} but you confirmed ${confirmed}. ` +
      'Probe it again and compare with the fingerprint shown on the agent host; if they differ, ' +
      'someone may be intercepting the connection. Nothing was saved.',
    { address, presented, pinned: confirmed },
  );
}
