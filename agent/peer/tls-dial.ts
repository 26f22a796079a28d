import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { TidelineError } from '../../app/errors';
import { formatAddress } from '../config/listen';
import type { ListenAddress } from '../control/control-server';
import { errnoMessage } from '../store/json-file';

export interface TlsKeyPair {
  readonly keyPem: string;
  readonly certPem: string;
}

export interface DialedSocket {
  readonly socket: TLSSocket;
  /** The server certificate's SHA-256 fingerprint: check it before sending anything. */
  readonly fingerprint: string;
}

/**
 * Opens a TLS connection to a peer's replication listener, presenting this agent's
 * certificate. There is no CA: the caller authenticates the server by its fingerprint
 * (pinned, or learned while pairing) before it writes a byte.
 */
export async function dialTls(
  address: ListenAddress,
  tls: TlsKeyPair,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<DialedSocket> {
  const socket = connect({
    host: address.host,
    port: address.port,
    key: tls.keyPem,
    cert: tls.certPem,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
    ...(isIP(address.host) === 0 && { servername: address.host }),
  });
  socket.setNoDelay(true);
  if (signal?.aborted === true) socket.destroy();
  const shown = formatAddress(address);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new TidelineError(
            'TIMEOUT',
            `No TLS connection to ${shown} within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new TidelineError('UNAVAILABLE', `Cannot reach ${shown}: ${errnoMessage(err)}`));
      });
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new TidelineError('CONNECTION_CLOSED', `Connecting to ${shown} was cancelled`));
      });
    });
  } catch (err) {
    socket.destroy();
    throw err;
  }
  const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
  if (fingerprint === undefined) {
    socket.destroy();
    throw new TidelineError(
      'UNAVAILABLE',
      `${shown} presented no certificate: it is not a Tideline agent`,
    );
  }
  socket.on('error', () => undefined); // the FrameConnection that takes the socket reports errors
  return { socket, fingerprint };
}
