import { connect, type TLSSocket } from 'node:tls';
import type { CertificateInfo } from '../../../app/protocol';
import type { TidelineError } from '../../../app/errors';
import { parseAddress, serverName } from './address';
import { fingerprintMismatch, socketReason, timedOut, unreachable } from './errors';

export interface TlsOptions {
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Opens a TLS connection and settles once the handshake is done. The agent's certificate is
 * self-signed, so chain validation is off (rejectUnauthorized: false) and `check` decides
 * instead, before any byte of HTTP (let alone the token) is written to the socket.
 */
function handshake(
  address: string,
  check: (socket: TLSSocket) => TidelineError | undefined,
  options: TlsOptions,
): Promise<TLSSocket> {
  const { host, port } = parseAddress(address);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<TLSSocket>((resolve, reject) => {
    const servername = serverName(host);
    const socket = connect({
      host,
      port,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(servername === undefined ? {} : { servername }),
    });
    const fail = (err: TidelineError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: unknown): void => fail(unreachable(address, socketReason(err)));
    const onTimeout = (): void => fail(timedOut(address, 'TLS handshake'));
    const onSecure = (): void => {
      const problem = check(socket);
      if (problem !== undefined) return fail(problem);
      cleanup();
      resolve(socket);
    };
    const cleanup = (): void => {
      socket.setTimeout(0);
      socket.off('error', onError);
      socket.off('timeout', onTimeout);
      socket.off('secureConnect', onSecure);
    };
    socket.setTimeout(timeoutMs);
    socket.on('error', onError);
    socket.on('timeout', onTimeout);
    socket.once('secureConnect', onSecure);
  });
}

export function peerFingerprint(socket: TLSSocket): string | undefined {
  return socket.getPeerX509Certificate()?.fingerprint256.toUpperCase();
}

/** A TLS socket to `address` whose certificate has the pinned SHA-256 fingerprint. */
export function connectPinned(
  address: string,
  pinned: string,
  options: TlsOptions = {},
): Promise<TLSSocket> {
  const want = pinned.toUpperCase();
  return handshake(
    address,
    (socket) => {
      const got = peerFingerprint(socket);
      if (got === want) return undefined;
      return fingerprintMismatch(address, got ?? '(no certificate)', want);
    },
    options,
  );
}

/** The certificate an agent presents: a TLS handshake only, no HTTP and no token. */
export async function probeCertificate(
  address: string,
  options: TlsOptions = {},
): Promise<CertificateInfo> {
  const socket = await handshake(address, () => undefined, options);
  try {
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) throw unreachable(address, 'the server presented no certificate');
    return {
      address,
      fingerprint: cert.fingerprint256.toUpperCase(),
      subject: oneLine(cert.subject),
      issuer: oneLine(cert.issuer),
      validFrom: new Date(cert.validFrom).toISOString(),
      validTo: new Date(cert.validTo).toISOString(),
    };
  } finally {
    socket.destroy();
  }
}

function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}
