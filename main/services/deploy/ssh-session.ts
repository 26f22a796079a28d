import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { TidelineError, isTidelineError } from '../../../app/errors';
import { checkHostKey, hostKeyInfo, type HostKeyInfo } from './host-key';

/** How the console logs in to a host. */
export type SshAuth =
  | { readonly kind: 'password'; readonly password: string }
  | { readonly kind: 'key'; readonly privateKey: string; readonly passphrase?: string }
  | { readonly kind: 'agent'; readonly socket: string };

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly auth: SshAuth;
  /** The pinned host key fingerprint; absent the first time (the key is then reported). */
  readonly hostKey?: string;
  /** Default 15 s for the connection and login. */
  readonly readyTimeoutMs?: number;
}

export interface ExecResult {
  readonly code: number | null;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  readonly stdin?: string | Buffer;
  /** Default 10 min. */
  readonly timeoutMs?: number;
}

/** Output kept per stream: a hostile or broken host cannot fill the console's memory. */
const MAX_OUTPUT_BYTES = 1024 * 1024;
const DEFAULT_EXEC_TIMEOUT_MS = 10 * 60_000;

/**
 * One SSH connection to a host (ssh2): the host key checked against the pin before any
 * credential is sent, commands with bounded output and time, and SFTP uploads with progress.
 */
export class SshSession {
  private constructor(
    private readonly client: Client,
    readonly hostKey: HostKeyInfo,
    readonly target: SshTarget,
  ) {}

  static open(target: SshTarget): Promise<SshSession> {
    const client = new Client();
    let presented: HostKeyInfo | undefined;
    let refused: TidelineError | undefined;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      readyTimeout: target.readyTimeoutMs ?? 15_000,
      keepaliveInterval: 15_000,
      // Checked before authentication: no password or signature reaches an unknown host.
      hostVerifier: (key: Buffer) => {
        presented = hostKeyInfo(key);
        try {
          checkHostKey(`${target.host}:${target.port}`, presented, target.hostKey);
          return true;
        } catch (err) {
          refused = err as TidelineError;
          return false;
        }
      },
      ...authConfig(target.auth),
    };
    return new Promise<SshSession>((resolve, reject) => {
      const fail = (err: Error & { level?: string; code?: string }): void => {
        client.end();
        reject(refused ?? connectError(target, err));
      };
      client.once('error', fail);
      client.once('ready', () => {
        client.off('error', fail);
        // Later errors (a dropped connection) end the commands in flight, which report them.
        client.on('error', () => undefined);
        resolve(new SshSession(client, presented as HostKeyInfo, target));
      });
      client.connect(config);
    });
  }

  /** Runs `command` (a remote shell line); resolves with its exit code and output. */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err !== undefined && err !== null) {
          reject(this.lost(err));
          return;
        }
        collect(channel, options, resolve, (why) => reject(this.lost(why)));
      });
    });
  }

  /** Copies a local file to `remotePath` (SFTP), reporting bytes sent. */
  async upload(
    localPath: string,
    remotePath: string,
    onProgress?: (sent: number, total: number) => void,
  ): Promise<void> {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, wrapper) => (err ? reject(this.lost(err)) : resolve(wrapper)));
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sftp.fastPut(
          localPath,
          remotePath,
          { mode: 0o600, step: (sent, _chunk, total) => onProgress?.(sent, total) },
          (err) => (err ? reject(uploadError(this.target, remotePath, err)) : resolve()),
        );
      });
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.client.end();
  }

  private lost(err: Error): TidelineError {
    return new TidelineError(
      'CONNECTION_CLOSED',
      `The SSH connection to ${this.target.host} was lost: ${err.message}`,
      { host: this.target.host },
    );
  }
}

/**
 * The host key `host` presents, without logging in: the connection is dropped in the host
 * key check, before any credential would be sent.
 */
export function scanHostKey(host: string, port: number, timeoutMs = 15_000): Promise<HostKeyInfo> {
  const client = new Client();
  return new Promise<HostKeyInfo>((resolve, reject) => {
    let presented: HostKeyInfo | undefined;
    client.once('error', (err: Error & { level?: string; code?: string }) => {
      client.end();
      if (presented !== undefined) resolve(presented);
      else
        reject(
          connectError({ host, port, username: '-', auth: { kind: 'agent', socket: '' } }, err),
        );
    });
    client.once('ready', () => {
      client.end();
      reject(
        new TidelineError(
          'INTERNAL_ERROR',
          `${host}:${port} let a login through without credentials`,
        ),
      );
    });
    client.connect({
      host,
      port,
      username: 'tideline-key-scan',
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        presented = hostKeyInfo(key);
        return false;
      },
    });
  });
}

function authConfig(auth: SshAuth): Partial<ConnectConfig> {
  switch (auth.kind) {
    case 'password':
      // Also answered to keyboard-interactive prompts, the only password method on many hosts.
      return { password: auth.password, tryKeyboard: true };
    case 'key':
      return {
        privateKey: auth.privateKey,
        ...(auth.passphrase !== undefined && { passphrase: auth.passphrase }),
      };
    case 'agent':
      return { agent: auth.socket };
  }
}

function collect(
  channel: ClientChannel,
  options: ExecOptions,
  resolve: (result: ExecResult) => void,
  reject: (err: Error) => void,
): void {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outBytes = 0;
  let errBytes = 0;
  channel.on('data', (d: Buffer) => {
    if (outBytes < MAX_OUTPUT_BYTES) out.push(d.subarray(0, MAX_OUTPUT_BYTES - outBytes));
    outBytes += d.length;
  });
  channel.stderr.on('data', (d: Buffer) => {
    if (errBytes < MAX_OUTPUT_BYTES) err.push(d.subarray(0, MAX_OUTPUT_BYTES - errBytes));
    errBytes += d.length;
  });
  const timer = setTimeout(() => {
    channel.close();
    reject(
      new Error(
        `a command ran longer than ${(options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS) / 1000} s`,
      ),
    );
  }, options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS);
  channel.on('close', (code: number | null, signal?: string) => {
    clearTimeout(timer);
    resolve({
      code: code ?? null,
      signal,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    });
  });
  if (options.stdin !== undefined) channel.end(options.stdin);
  else channel.end();
}

function connectError(
  target: SshTarget,
  err: Error & { level?: string; code?: string },
): TidelineError {
  const where = `${target.host}:${target.port}`;
  if (isTidelineError(err)) return err;
  if (err.level === 'client-authentication') {
    return new TidelineError(
      'UNAUTHORIZED',
      `${where} refused the login of "${target.username}": check the user name and the ${target.auth.kind === 'password' ? 'password' : target.auth.kind === 'key' ? "key (and that it is in the user's authorized_keys)" : 'keys in the SSH agent'}`,
      { host: target.host },
    );
  }
  if (err.level === 'client-timeout' || /Timed out/i.test(err.message)) {
    return new TidelineError(
      'TIMEOUT',
      `${where} did not answer an SSH login in time: check the address, the port and any firewall`,
      { host: target.host },
    );
  }
  const code = err.code;
  if (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN'
  ) {
    return new TidelineError(
      'UNAVAILABLE',
      `Cannot reach ${where} over SSH (${code}): check the address and the port, and that sshd runs there`,
      { host: target.host, errno: code },
    );
  }
  return new TidelineError('UNAVAILABLE', `SSH to ${where} failed: ${err.message}`, {
    host: target.host,
  });
}

function uploadError(target: SshTarget, remotePath: string, err: Error): TidelineError {
  // OpenSSH answers a full disk with a bare "Failure": the deployer looks at the free space.
  return new TidelineError(
    'UNAVAILABLE',
    `Upload to ${target.host}:${remotePath} failed: ${err.message}`,
    { host: target.host, remotePath },
  );
}
