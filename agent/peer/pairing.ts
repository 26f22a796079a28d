import type { RefusalSink } from '../util/refusal-log';
import type { z } from 'zod';
import { TidelineError, isTidelineError } from '../../app/errors';
import type { PairParams } from '../../app/protocol';
import { parseListen } from '../config/listen';
import type { Logger } from '../log';
import type { AuthThrottle } from '../security/auth-throttle';
import { FrameConnection } from './frame-connection';
import {
  PairOkSchema,
  PairSchema,
  agreeVersion,
  decodeJson,
  type Pair,
  type PairOk,
  type RefusalReason,
} from './messages';
import type { PairingTokens } from './pairing-tokens';
import type { PeerRecord, PeerStore } from './peer-store';
import { dialTls, type TlsKeyPair } from './tls-dial';
import { FrameType, MAX_HANDSHAKE_PAYLOAD, PEER_PROTOCOL } from './wire';

/** This agent, as pairing presents it. */
export interface PairingSelf {
  readonly agentId: string;
  readonly siteId: string;
  readonly fingerprint: string;
  siteName(): string;
  /** The advertised replication address. */
  address(): string;
}

/** Sends REFUSED and logs the refusal once, with what the admin needs to find the peer. */
export function refusePeer(
  conn: FrameConnection,
  log: RefusalSink,
  reason: RefusalReason,
  code: string,
  message: string,
  context: Record<string, unknown> = {},
): void {
  log.warn(
    {
      source: conn.source,
      remote: conn.remote,
      fingerprint: conn.peerFingerprint,
      reason,
      ...context,
      refusal: message,
    },
    'peer refused',
  );
  conn.refuse(reason, code, message);
}

/**
 * Decodes a handshake frame from a not-yet-trusted peer; a malformed one is refused (REFUSED,
 * logged) and gives undefined.
 */
export function decodeOrRefuse<T>(
  conn: FrameConnection,
  log: RefusalSink,
  payload: Buffer,
  schema: z.ZodType<T>,
  frameName: string,
): T | undefined {
  try {
    return decodeJson(payload, schema, frameName);
  } catch (err) {
    const message = isTidelineError(err) ? err.message : `Bad ${frameName} frame`;
    refusePeer(conn, log, 'protocol', 'INVALID_REQUEST', message);
    return undefined;
  }
}

export interface AcceptPairingDeps {
  readonly self: PairingSelf;
  readonly tokens: PairingTokens;
  readonly store: PeerStore;
  /** Slows down token guessing per remote host. */
  readonly throttle: AuthThrottle;
  readonly log: Logger;
  /** Refusals, rate-limited. */
  readonly refusals: RefusalSink;
}

/**
 * Token issuer's side (agent A) of a PAIR frame: checks the token, pins the dialer's
 * certificate — from its TLS client certificate, never from the frame — stores it as a peer,
 * answers PAIR_OK with A's identity. Resolves with the new peer, or undefined if refused.
 */
export async function acceptPairing(
  conn: FrameConnection,
  payload: Buffer,
  deps: AcceptPairingDeps,
): Promise<PeerRecord | undefined> {
  const { self, tokens, store, throttle, log, refusals } = deps;
  const site = self.siteName();
  const host = conn.remote.replace(/:\d+$/, '');
  const verdict = throttle.check(host);
  if (!verdict.allowed) {
    const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
    refusePeer(
      conn,
      refusals,
      'busy',
      'TOO_MANY_REQUESTS',
      `Too many failed pairing attempts from ${host}: retry in ${seconds} s`,
    );
    return undefined;
  }
  const pair = decodeOrRefuse<Pair>(conn, refusals, payload, PairSchema, 'PAIR');
  if (pair === undefined) return undefined;
  const context = { agentId: pair.agentId, site: pair.siteName };
  const fingerprint = conn.peerFingerprint;
  if (fingerprint === undefined) {
    refusePeer(
      conn,
      refusals,
      'no-certificate',
      'UNAUTHORIZED',
      'Pairing needs the agent’s certificate: connect with it',
      context,
    );
    return undefined;
  }
  const version = agreeVersion(PEER_PROTOCOL, pair);
  if (version === undefined) {
    refusePeer(
      conn,
      refusals,
      'version',
      'PROTOCOL_VERSION',
      `Site "${site}" speaks peer protocol ${PEER_PROTOCOL.min}–${PEER_PROTOCOL.max}, this agent ${pair.min}–${pair.max}: upgrade the older agent`,
      context,
    );
    return undefined;
  }
  const state = tokens.check(pair.token);
  if (state !== 'ok') {
    throttle.recordFailure(host);
    const message = {
      expired: `The pairing token expired; ask for a new one on site "${site}"`,
      used: `The pairing token was already used; ask for a new one on site "${site}"`,
      unknown: `The pairing token is not valid for site "${site}": check that it was copied whole. Tokens issued before that site's agent restarted are no longer valid: ask for a new one on site "${site}"`,
    }[state];
    const reason = (
      { expired: 'token-expired', used: 'token-used', unknown: 'token-invalid' } as const
    )[state];
    refusePeer(conn, refusals, reason, 'UNAUTHORIZED', message, context);
    return undefined;
  }
  if (fingerprint === self.fingerprint || pair.agentId === self.agentId) {
    refusePeer(
      conn,
      refusals,
      'self',
      'CONFLICT',
      `That is site "${site}" itself: an agent cannot pair with itself. Use the token on the other site's agent`,
      context,
    );
    return undefined;
  }
  const existing = store.byAgentId(pair.agentId) ?? store.byFingerprint(fingerprint);
  if (existing !== undefined) {
    refusePeer(
      conn,
      refusals,
      'already-paired',
      'ALREADY_EXISTS',
      `Site "${site}" is already paired with site "${existing.siteName}" (agent ${existing.agentId}); unpair first to pair again`,
      context,
    );
    return undefined;
  }
  tokens.consume(pair.token);
  throttle.recordSuccess(host);
  const record: PeerRecord = {
    agentId: pair.agentId,
    siteId: pair.siteId,
    siteName: pair.siteName,
    address: pair.address,
    fingerprint,
    pairedAt: Date.now(),
    compression: 'off',
  };
  try {
    await store.add(record);
  } catch (err) {
    tokens.restore(pair.token);
    if (isTidelineError(err) && err.code === 'ALREADY_EXISTS') {
      refusePeer(conn, refusals, 'already-paired', err.code, err.message, context);
      return undefined;
    }
    log.error({ err }, 'cannot save the new peer');
    refusePeer(
      conn,
      refusals,
      'internal',
      'INTERNAL_ERROR',
      `Site "${site}" could not save the pairing (see its log); try again`,
      context,
    );
    return undefined;
  }
  const answer: PairOk = {
    version,
    agentId: self.agentId,
    siteId: self.siteId,
    siteName: site,
    address: self.address(),
  };
  conn.sendJson(FrameType.PAIR_OK, answer);
  log.info(
    { peer: record.agentId, site: record.siteName, fingerprint, remote: conn.remote },
    'paired (token accepted)',
  );
  return record;
}

export interface RequestPairingDeps {
  readonly self: PairingSelf;
  readonly tls: TlsKeyPair;
  readonly store: PeerStore;
  readonly log: Logger;
  readonly timeoutMs: number;
}

/**
 * Dialer's side (agent B) of site.pair: dial A's replication address with B's certificate,
 * learn A's fingerprint from the TLS session, send PAIR with the token and B's identity, and
 * on PAIR_OK pin A and store it. The pairing connection is closed afterwards; the link is a
 * connection of its own.
 */
export async function requestPairing(
  params: PairParams,
  deps: RequestPairingDeps,
): Promise<PeerRecord> {
  const { self, tls, store, log, timeoutMs } = deps;
  const address = parseListen(params.address);
  if (address === undefined || address.port === 0) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `"${params.address}" is not a replication address (host:port)`,
    );
  }
  let dialed;
  try {
    dialed = await dialTls(address, tls, timeoutMs);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new TidelineError(
      'UNAVAILABLE',
      `${why}. Check the address in the pairing token, that the other site's agent is running, and that its replication port is reachable from this agent`,
    );
  }
  const conn = new FrameConnection(dialed.socket, MAX_HANDSHAKE_PAYLOAD, log);
  try {
    if (dialed.fingerprint === self.fingerprint) {
      throw new TidelineError(
        'CONFLICT',
        `${params.address} is this agent's own replication address: an agent cannot pair with itself. Use a token from the other site's agent`,
      );
    }
    if (dialed.fingerprint !== params.fingerprint) {
      throw new TidelineError(
        'FINGERPRINT_MISMATCH',
        `The agent at ${params.address} presents certificate ${dialed.fingerprint}, not ${params.fingerprint} as the pairing token says: the token was not sent. Check that the address reaches the agent that issued the token (not another machine, or something in between)`,
        { expected: params.fingerprint, actual: dialed.fingerprint },
      );
    }
    const known = store.byFingerprint(dialed.fingerprint);
    if (known !== undefined) {
      throw new TidelineError(
        'ALREADY_EXISTS',
        `Site "${self.siteName()}" is already paired with site "${known.siteName}" (agent ${known.agentId}, ${params.address}); unpair first to pair again`,
        { agentId: known.agentId },
      );
    }
    conn.sendJson(FrameType.PAIR, {
      min: PEER_PROTOCOL.min,
      max: PEER_PROTOCOL.max,
      agentId: self.agentId,
      siteId: self.siteId,
      siteName: self.siteName(),
      address: self.address(),
      token: params.token,
    } satisfies Pair);
    const frame = await conn.nextFrame(timeoutMs, 'pairing answer');
    if (frame.type !== FrameType.PAIR_OK) {
      throw new TidelineError(
        'UNAVAILABLE',
        `The agent at ${params.address} answered pairing with frame type ${frame.type}`,
      );
    }
    const ok = decodeJson(frame.payload, PairOkSchema, 'PAIR_OK');
    if (ok.agentId === self.agentId) {
      throw new TidelineError(
        'CONFLICT',
        'The other agent has this agent’s id (a copied data directory?): it cannot be paired',
      );
    }
    const record: PeerRecord = {
      agentId: ok.agentId,
      siteId: ok.siteId,
      siteName: ok.siteName,
      address: params.address,
      fingerprint: dialed.fingerprint,
      pairedAt: Date.now(),
      compression: 'off',
    };
    try {
      await store.add(record);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TidelineError(
        isTidelineError(err) ? err.code : 'INTERNAL_ERROR',
        `Site "${ok.siteName}" accepted the pairing, but this agent could not save it (${why}); unpair on site "${ok.siteName}" and pair again`,
      );
    }
    log.info(
      {
        peer: record.agentId,
        site: record.siteName,
        fingerprint: record.fingerprint,
        address: record.address,
      },
      'paired (token used)',
    );
    return record;
  } finally {
    conn.close('pairing done');
  }
}
