import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import {
  TLSSocket,
  createSecureContext,
  type SecureContext,
  type TLSSocketOptions,
  type TlsOptions,
} from 'node:tls';
import { TidelineError } from '../../app/errors';
import { errnoMessage } from '../store/json-file';

/**
 * NBD over TLS with pre-shared keys (the NBD protocol's STARTTLS, as qemu-nbd and nbdkit do
 * with `tls-creds-psk`): a remote QEMU attaches with a key from the same file, and nobody else
 * can. The file is GnuTLS's psktool format, one `identity:hexkey` per line, so one file serves
 * the agent and QEMU's `--object tls-creds-psk,dir=…` (as keys.psk) alike.
 */
export interface NbdTls {
  readonly keys: ReadonlyMap<string, Buffer>;
  readonly context: SecureContext;
  /** Where the keys came from (for logs and messages). */
  readonly file: string;
}

const IDENTITY = /^[A-Za-z0-9_.@-]{1,128}$/;
const MIN_KEY_BYTES = 16;

/** TLS 1.3 with the PSK's SHA-256 suites, and TLS 1.2's PSK-with-(EC)DHE suites. */
const CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-PSK-CHACHA20-POLY1305',
  'DHE-PSK-AES256-GCM-SHA384',
  'DHE-PSK-AES128-GCM-SHA256',
  'PSK-AES256-GCM-SHA384',
  'PSK-AES128-GCM-SHA256',
].join(':');

/** Reads and checks a PSK file: private (no group or other access), at least one key. */
export async function loadNbdTls(file: string): Promise<NbdTls> {
  let text: string;
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `The NBD TLS key file ${file} may be read by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof TidelineError) throw err;
    throw new TidelineError(
      'INVALID_PARAMS',
      `Cannot read the NBD TLS key file ${file}: ${errnoMessage(err)}`,
    );
  }
  const keys = new Map<string, Buffer>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const identity = line.slice(0, colon);
    const hex = line.slice(colon + 1);
    if (
      colon < 0 ||
      !IDENTITY.test(identity) ||
      !/^([0-9a-fA-F]{2})+$/.test(hex) ||
      hex.length / 2 < MIN_KEY_BYTES
    ) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${file} line ${index + 1} is not "identity:hexkey" with a key of at least ${MIN_KEY_BYTES} bytes (make one with: psktool -u NAME -p ${file})`,
      );
    }
    keys.set(identity, Buffer.from(hex, 'hex'));
  });
  if (keys.size === 0) {
    throw new TidelineError('INVALID_PARAMS', `The NBD TLS key file ${file} holds no key`);
  }
  const context = createSecureContext({ ciphers: CIPHERS, minVersion: 'TLSv1.2' });
  return { keys, context, file };
}

/**
 * After NBD_OPT_STARTTLS's ACK: the TLS handshake as the server, over the same socket.
 * Resolves with the TLS socket and the client's identity once it is secure.
 */
export async function startTls(
  socket: Socket,
  tls: NbdTls,
): Promise<{ secure: TLSSocket; identity: string }> {
  let identity = '';
  // TLSSocket takes pskCallback as tls.createServer does (its type omits it).
  const options: TLSSocketOptions & Pick<TlsOptions, 'pskCallback'> = {
    isServer: true,
    secureContext: tls.context,
    pskCallback: (_socket, id) => {
      const key = tls.keys.get(id);
      if (key === undefined) return null;
      identity = id;
      return key;
    },
  };
  const secure = new TLSSocket(socket, options);
  secure.on('error', () => undefined); // reported through the handshake's failure
  const failed = once(secure, 'error').then(([err]: unknown[]) => {
    throw new TidelineError(
      'UNAUTHORIZED',
      `NBD TLS handshake failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  await Promise.race([once(secure, 'secure'), failed]);
  return { secure, identity };
}
