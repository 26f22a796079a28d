import { resolve } from 'node:path';
import { AddressSchema } from '../../app/protocol';
import { UsageError } from '../commands/usage';
import type { ListenAddress } from '../control/control-server';
import { defaultReplicationListen, formatAddress, parseListen } from './listen';

export interface ReplicationFlags {
  readonly replicationListen: ListenAddress;
  readonly advertise?: string;
  readonly pairingTokenTtlMs?: number;
  /** Outbox size per VPG before it keeps dirty bitmaps instead (daemon default 2 GiB). */
  readonly outboxLimitBytes?: number;
  /** Where pre-seeded replica images may be taken from (absolute; checked at start). */
  readonly preseedDir?: string;
}

/** --outbox-limit-mib bounds: 1 MiB (tests, tiny demos) to 1 TiB. */
export const OUTBOX_LIMIT_MIB_MIN = 1;
export const OUTBOX_LIMIT_MIB_MAX = 1024 * 1024;

/**
 * `run`'s replication flags: --replication-listen HOST:PORT (default: --listen's host, its
 * port + 1; port 0 stays 0), --advertise HOST:PORT (the address peers dial; default the
 * listen address, or this machine's host name for 0.0.0.0 / ::), --pairing-token-ttl SECONDS,
 * --outbox-limit-mib N (per VPG; past it the VPG tracks dirty regions and resyncs them later).
 */
export function parseReplicationFlags(
  values: {
    readonly 'replication-listen'?: string | undefined;
    readonly advertise?: string | undefined;
    readonly 'pairing-token-ttl'?: string | undefined;
    readonly 'outbox-limit-mib'?: string | undefined;
    readonly 'preseed-dir'?: string | undefined;
  },
  listen: ListenAddress,
): ReplicationFlags {
  const text = values['replication-listen'];
  let replicationListen: ListenAddress | undefined;
  if (text === undefined) {
    replicationListen = defaultReplicationListen(listen);
    if (replicationListen === undefined) {
      throw new UsageError(
        `--listen ${formatAddress(listen)} leaves no port + 1 for replication: give --replication-listen HOST:PORT`,
      );
    }
  } else {
    replicationListen = parseListen(text);
    if (replicationListen === undefined) {
      throw new UsageError(
        `--replication-listen must be HOST:PORT (e.g. 0.0.0.0:7444), not "${text}"`,
      );
    }
  }
  const advertise = values.advertise;
  if (advertise !== undefined && !AddressSchema.safeParse(advertise).success) {
    throw new UsageError(
      `--advertise must be HOST:PORT with a port of 1–65535 (the address other sites' agents dial), not "${advertise}"`,
    );
  }
  const ttlText = values['pairing-token-ttl'];
  let pairingTokenTtlMs: number | undefined;
  if (ttlText !== undefined) {
    const seconds = Number(ttlText);
    if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86_400) {
      throw new UsageError('--pairing-token-ttl must be a number of seconds between 1 and 86400');
    }
    pairingTokenTtlMs = Math.round(seconds * 1000);
  }
  const outboxLimitBytes = parseOutboxLimit(values['outbox-limit-mib']);
  const preseedText = values['preseed-dir'];
  if (preseedText !== undefined && (preseedText.trim() === '' || preseedText.includes('\0'))) {
    throw new UsageError('--preseed-dir must be a directory');
  }
  const preseedDir = preseedText === undefined ? undefined : resolve(preseedText);
  return {
    replicationListen,
    ...(advertise !== undefined && { advertise: advertise.trim() }),
    ...(pairingTokenTtlMs !== undefined && { pairingTokenTtlMs }),
    ...(outboxLimitBytes !== undefined && { outboxLimitBytes }),
    ...(preseedDir !== undefined && { preseedDir }),
  };
}

/** --outbox-limit-mib N: a whole number of MiB; undefined when absent. */
export function parseOutboxLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const mib = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(mib) || mib < OUTBOX_LIMIT_MIB_MIN || mib > OUTBOX_LIMIT_MIB_MAX) {
    throw new UsageError(
      `--outbox-limit-mib must be a whole number of MiB between ${OUTBOX_LIMIT_MIB_MIN} and ${OUTBOX_LIMIT_MIB_MAX} (the outbox size per VPG before it tracks dirty regions instead; default 2048), not "${text}"`,
    );
  }
  return mib * 1024 * 1024;
}
