import { TidelineError } from '../../../app/errors';
import type { ExecResult, SshSession } from './ssh-session';

/** A word for a POSIX shell, whatever it holds. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs scripts as root on a host: directly when the login is root, else through sudo (without
 * a password where the host allows it, else with the login password on sudo's stdin; the
 * script travels in sudo's arguments, never on the same stdin, so no password can end up run
 * as a command).
 */
export class RemoteShell {
  private sudo: 'none' | 'nopasswd' | 'password' | undefined;

  constructor(private readonly session: SshSession) {}

  /** Runs `script` (sh) with `args` as $1…; as root. */
  async root(
    script: string,
    args: readonly string[] = [],
    timeoutMs?: number,
  ): Promise<ExecResult> {
    const command = `sh -c ${shellQuote(script)} sh ${args.map(shellQuote).join(' ')}`;
    const mode = await this.sudoMode();
    const options = timeoutMs === undefined ? {} : { timeoutMs };
    if (mode === 'none') return this.session.exec(command, options);
    if (mode === 'nopasswd') return this.session.exec(`sudo -n -- ${command}`, options);
    const auth = this.session.target.auth;
    const password = auth.kind === 'password' ? auth.password : '';
    return this.session.exec(`sudo -S -p '' -- ${command}`, { ...options, stdin: `${password}\n` });
  }

  /** As root(), and fails with the script's own last error line unless it exits 0. */
  async rootOk(
    what: string,
    script: string,
    args: readonly string[] = [],
    timeoutMs?: number,
  ): Promise<string> {
    const result = await this.root(script, args, timeoutMs);
    if (result.code !== 0) {
      const line = lastLine(result.stderr) ?? lastLine(result.stdout) ?? `exit ${result.code}`;
      throw new TidelineError(
        'INTERNAL_ERROR',
        `${what} failed on ${this.session.target.host}: ${line}`,
        {
          host: this.session.target.host,
          exitCode: result.code,
        },
      );
    }
    return result.stdout;
  }

  private async sudoMode(): Promise<'none' | 'nopasswd' | 'password'> {
    if (this.sudo !== undefined) return this.sudo;
    if (this.session.target.username === 'root') return (this.sudo = 'none');
    const uid = await this.session.exec('id -u');
    if (uid.stdout.trim() === '0') return (this.sudo = 'none');
    const free = await this.session.exec('sudo -n true');
    if (free.code === 0) return (this.sudo = 'nopasswd');
    const auth = this.session.target.auth;
    const who = `${this.session.target.username}@${this.session.target.host}`;
    if (auth.kind !== 'password') {
      throw new TidelineError(
        'UNAUTHORIZED',
        `${who} needs a password for sudo: log in with the password, or allow it sudo without one (NOPASSWD)`,
        { host: this.session.target.host },
      );
    }
    const tried = await this.session.exec(`sudo -S -p '' -k true`, { stdin: `${auth.password}\n` });
    if (tried.code !== 0) {
      throw new TidelineError(
        'UNAUTHORIZED',
        `${who} may not use sudo (${lastLine(tried.stderr) ?? 'refused'}): deploying needs root`,
        { host: this.session.target.host },
      );
    }
    return (this.sudo = 'password');
  }
}

function lastLine(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.at(-1);
}
