import { TidelineError, isTidelineError } from '../../app/errors';
import { parseListen } from '../config/listen';
import type { Logger } from '../log';
import { FrameConnection } from './frame-connection';
import { HelloSchema, agreeVersion, decodeJson, type Hello } from './messages';
import type { PeerRecord } from './peer-store';
import { dialTls, type TlsKeyPair } from './tls-dial';
import { FrameType, MAX_HANDSHAKE_PAYLOAD, PEER_PROTOCOL, protocolError } from './wire';

export interface DialDeps {
  readonly tls: TlsKeyPair;
  readonly tuning: { readonly handshakeTimeoutMs: number };
  readonly log: Logger;
}

/**
 * The dialer's handshake: TLS to the peer's address with this agent's certificate; the
 * server's fingerprint must be the pinned one before anything is sent; then HELLO both ways.
 * Resolves with the handshaken connection and the peer's HELLO. A REFUSED answer rejects with
 * its TidelineError (data.reason = the refusal reason).
 */
export async function dialPeer(
  peer: PeerRecord,
  hello: Hello,
  deps: DialDeps,
  signal: AbortSignal,
): Promise<{ conn: FrameConnection; hello: Hello }> {
  const { tls, tuning, log } = deps;
  const address = parseListen(peer.address);
  if (address === undefined || address.port === 0) {
    throw new TidelineError('INVALID_PARAMS', `Bad peer address "${peer.address}"`);
  }
  const dialed = await dialTls(address, tls, tuning.handshakeTimeoutMs, signal);
  if (dialed.fingerprint !== peer.fingerprint) {
    dialed.socket.destroy();
    throw new TidelineError(
      'FINGERPRINT_MISMATCH',
      `The agent at ${peer.address} presented certificate ${dialed.fingerprint}, not the one pinned for site "${peer.siteName}" (${peer.fingerprint}): not connecting. If that agent was reinstalled, unpair it and pair again.`,
    );
  }
  const conn = new FrameConnection(dialed.socket, MAX_HANDSHAKE_PAYLOAD, log);
  const onAbort = (): void => conn.destroy('cancelled');
  signal.addEventListener('abort', onAbort);
  try {
    conn.sendJson(FrameType.HELLO, hello);
    const frame = await conn.nextFrame(tuning.handshakeTimeoutMs, 'HELLO answer');
    if (frame.type !== FrameType.HELLO) {
      throw protocolError(`expected HELLO, got frame type ${frame.type}`);
    }
    const answer = decodeJson(frame.payload, HelloSchema, 'HELLO');
    if (answer.agentId !== peer.agentId) {
      throw new TidelineError(
        'FINGERPRINT_MISMATCH',
        `The agent at ${peer.address} says it is agent ${answer.agentId}, not ${peer.agentId}`,
      );
    }
    if (agreeVersion(PEER_PROTOCOL, answer) === undefined) {
      throw new TidelineError(
        'PROTOCOL_VERSION',
        `Site "${peer.siteName}" answered with peer protocol ${answer.min}–${answer.max}; this agent speaks ${PEER_PROTOCOL.min}–${PEER_PROTOCOL.max}`,
      );
    }
    return { conn, hello: answer };
  } catch (err) {
    if (conn.isOpen && isTidelineError(err) && err.data?.['reason'] === undefined) {
      conn.refuse('protocol', err.code, err.message);
    } else {
      conn.destroy('handshake failed');
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
