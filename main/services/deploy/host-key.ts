import { createHash } from 'node:crypto';
import { TidelineError } from '../../../app/errors';

/** An SSH host key as OpenSSH names it: `SHA256:…` of the key blob, and its type. */
export interface HostKeyInfo {
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  /** e.g. ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa. */
  readonly type: string;
  /** The command an admin runs on the host to read the same fingerprint. */
  readonly checkCommand: string;
}

export function hostKeyInfo(blob: Buffer): HostKeyInfo {
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  // The blob starts with its type as an SSH string (uint32 length, bytes).
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = length > 0 && length < 64 ? blob.subarray(4, 4 + length).toString('latin1') : '';
  const file =
    type === 'ssh-ed25519'
      ? 'ed25519'
      : type.startsWith('ecdsa-')
        ? 'ecdsa'
        : type === 'ssh-rsa'
          ? 'rsa'
          : undefined;
  const checkCommand =
    file === undefined
      ? 'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub'
      : `ssh-keygen -lf /etc/ssh/ssh_host_${file}_key.pub`;
  return { fingerprint, type, checkCommand };
}

/**
 * The host key check of a connection: with nothing pinned, the admin must first confirm the
 * key (HOST_KEY_UNKNOWN, with the fingerprint and the command to check it on the host); a key
 * other than the pinned one is refused (HOST_KEY_CHANGED, naming both), and only removing the
 * host and adding it again can change that.
 */
export function checkHostKey(
  host: string,
  presented: HostKeyInfo,
  pinned: string | undefined,
): void {
  if (pinned === presented.fingerprint) return;
  if (pinned === undefined) {
    throw new TidelineError(
      'HOST_KEY_UNKNOWN',
      `The host key of ${host} is not known yet: ${presented.type} ${presented.fingerprint}. Compare it with the output of "${presented.checkCommand}" on the host before you trust it.`,
      {
        host,
        fingerprint: presented.fingerprint,
        keyType: presented.type,
        checkCommand: presented.checkCommand,
      },
    );
  }
  throw new TidelineError(
    'HOST_KEY_CHANGED',
    `The host key of ${host} has changed: it was ${pinned}, it is now ${presented.fingerprint} (${presented.type}). This can mean someone is intercepting the connection. If the host was reinstalled, check the new key with "${presented.checkCommand}" on it, then remove the host and add it again.`,
    { host, pinned, presented: presented.fingerprint, keyType: presented.type },
  );
}
