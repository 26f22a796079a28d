import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { TidelineError } from '../../../app/errors';
import type { Logger } from '../../log';
import { describeCommand as describe, libvirtError } from './libvirt-errors';

export interface VirshSessionOptions {
  /** libvirt connection URI, e.g. qemu:///system or test:///default. */
  readonly uri: string;
  readonly log: Logger;
  /** A command that has not answered by then kills the session (default 30 s). */
  readonly timeoutMs?: number;
  /** The virsh binary (tests may point it elsewhere). */
  readonly binary?: string;
}

export interface VirshSessionEvents {
  /** virsh lost its connection to libvirtd (libvirtd restarted or stopped). */
  disconnected: [];
  /** virsh connected again (it does so by itself at the next command). */
  reconnected: [];
}

interface Pending {
  readonly args: readonly string[];
  readonly tag: string;
  readonly timeoutMs: number;
  readonly resolve: (output: string) => void;
  readonly reject: (err: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** A command's output past this is refused (bounded memory whatever libvirt prints). */
const MAX_OUTPUT_CHARS = 32 * 1024 * 1024;
/** virsh reports these on stderr between or inside commands; they are not a command's error. */
const DISCONNECTED = /^error: Disconnected from .* due to /;
const RECONNECTED = /^error: Reconnected to the hypervisor$/;

/**
 * One long-lived interactive `virsh` per connection. Why not a process per call: libvirt's
 * test driver (test:///default, the fast contract suite) keeps its state in the virsh
 * process, and a session also saves a fork, exec and connect per call.
 *
 * Framing: virsh echoes each input line and prints no delimiter, so every command is sent on
 * one line between markers, `echo 'tl'-bTAG ; CMD ; echo --err 'tl'-eTAG ; echo 'tl'-zTAG`.
 * The quoted halves in the echoed line never match the printed marker, and TAG carries a
 * random nonce. Output is what stdout holds between the b- and z-markers; the command failed
 * if stderr holds `error:` lines before the e-marker. One command at a time; a command that
 * does not answer in time kills the process (the next one starts a new session).
 */
export class VirshSession extends EventEmitter<VirshSessionEvents> {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly nonce = randomBytes(6).toString('hex');
  private counter = 0;
  private queue: Pending[] = [];
  private current: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stdout = '';
  private stderr = '';
  private closed = false;

  constructor(private readonly options: VirshSessionOptions) {
    super();
  }

  get uri(): string {
    return this.options.uri;
  }

  /**
   * Runs one virsh command (`args[0]` is the command name) and resolves with its stdout.
   * Rejects with a TidelineError naming the command and libvirt's message.
   */
  run(args: readonly string[], options: { readonly timeoutMs?: number } = {}): Promise<string> {
    if (this.closed) {
      return Promise.reject(new TidelineError('UNAVAILABLE', 'The libvirt session is closed'));
    }
    for (const arg of args) {
      // One command is one line: a newline would start another command.
      if (/[\0\r\n]/.test(arg)) {
        return Promise.reject(
          new TidelineError(
            'INVALID_PARAMS',
            `Cannot pass ${JSON.stringify(arg)} to virsh: it holds a line break or NUL`,
          ),
        );
      }
    }
    return new Promise((resolve, reject) => {
      this.counter += 1;
      this.queue.push({
        args,
        tag: `${this.nonce}-${this.counter}`,
        timeoutMs: options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        resolve,
        reject,
      });
      this.next();
    });
  }

  /** Ends the session; commands still queued fail with UNAVAILABLE. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    this.child = undefined; // its exit is expected now
    this.fail(new TidelineError('UNAVAILABLE', 'The libvirt session was closed'));
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.stdin.end('quit\n');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    });
  }

  private next(): void {
    if (this.current !== undefined) return;
    const pending = this.queue.shift();
    if (pending === undefined) return;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.child ?? this.spawn();
    } catch (err) {
      pending.reject(
        new TidelineError(
          'UNAVAILABLE',
          `Cannot start virsh (${err instanceof Error ? err.message : String(err)}): install libvirt-clients`,
        ),
      );
      this.next();
      return;
    }
    this.current = pending;
    this.stderr = '';
    this.timer = setTimeout(() => this.timedOut(pending), pending.timeoutMs);
    const { tag } = pending;
    child.stdin.write(
      `echo 'tl'-b${tag} ; ${pending.args.map(quote).join(' ')} ; echo --err 'tl'-e${tag} ; echo 'tl'-z${tag}\n`,
    );
  }

  private spawn(): ChildProcessWithoutNullStreams {
    const child = spawn(this.options.binary ?? 'virsh', ['-q', '-c', this.options.uri], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // English messages (errors are classified by their text); no history file.
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', TERM: 'dumb', VIRSH_HISTSIZE: '0' },
    });
    this.child = child;
    this.stdout = '';
    this.stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (this.child !== child) return;
      this.stdout += chunk;
      this.check();
    });
    child.stderr.on('data', (chunk: string) => {
      if (this.child !== child) return;
      this.stderr += chunk;
      this.check();
    });
    child.on('error', (err) => {
      if (this.child !== child) return;
      this.lost(`virsh could not run: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      if (this.child !== child) return;
      const tail = this.stderr.trim().split('\n').slice(-3).join('; ');
      this.lost(`virsh exited (${signal ?? `code ${code}`})${tail === '' ? '' : `: ${tail}`}`);
    });
    child.stdin.on('error', () => undefined); // reported by 'close'
    this.options.log.debug({ uri: this.options.uri, pid: child.pid }, 'virsh session started');
    return child;
  }

  /** Completes the current command once both of its end markers have arrived. */
  private check(): void {
    const pending = this.current;
    if (pending === undefined) {
      this.stderr = this.watchConnection(this.stderr, true);
      return;
    }
    if (this.stdout.length + this.stderr.length > MAX_OUTPUT_CHARS) {
      this.kill(
        pending,
        new TidelineError(
          'INTERNAL_ERROR',
          `virsh ${describe(pending.args)} printed more than ${MAX_OUTPUT_CHARS} characters`,
        ),
      );
      return;
    }
    const { tag } = pending;
    const errMarker = `error: tl-e${tag}\n`;
    const errAt = this.stderr.indexOf(errMarker);
    const begin = `tl-b${tag}`;
    const beginAt = this.stdout.indexOf(begin);
    const endAt = beginAt < 0 ? -1 : this.stdout.indexOf(`tl-z${tag}`, beginAt + begin.length);
    if (errAt < 0 || endAt < 0) return;
    const output = this.stdout.slice(beginAt + begin.length, endAt);
    this.stdout = this.stdout.slice(endAt + `tl-z${tag}`.length);
    const errors = this.watchConnection(this.stderr.slice(0, errAt), false);
    this.stderr = this.stderr.slice(errAt + errMarker.length);
    this.finish();
    const failures = errors
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.startsWith('error:'))
      .map((line) => line.slice('error:'.length).trim());
    if (failures.length > 0) pending.reject(libvirtError(pending.args, failures));
    else pending.resolve(output);
    this.next();
  }

  /** Takes virsh's connection notices out of stderr text (they are events, not errors). */
  private watchConnection(text: string, keepPartial: boolean): string {
    const lines = text.split('\n');
    const partial = keepPartial ? (lines.pop() ?? '') : '';
    const kept: string[] = [];
    for (const line of lines) {
      if (DISCONNECTED.test(line)) {
        this.options.log.warn({ uri: this.options.uri }, 'libvirt connection lost');
        this.emit('disconnected');
      } else if (RECONNECTED.test(line)) {
        this.options.log.info({ uri: this.options.uri }, 'libvirt connection restored');
        this.emit('reconnected');
      } else if (keepPartial) {
        if (line.trim() !== '') this.options.log.debug({ line }, 'virsh said');
      } else kept.push(line);
    }
    if (keepPartial) return partial;
    return kept.join('\n');
  }

  private timedOut(pending: Pending): void {
    if (this.current !== pending) return;
    this.kill(
      pending,
      new TidelineError(
        'TIMEOUT',
        `virsh ${describe(pending.args)} did not answer within ${Math.round(pending.timeoutMs / 1000)} s: libvirtd (${this.options.uri}) may be hung; check it and its log`,
        { command: pending.args[0] },
      ),
    );
  }

  /** Ends the process (a command is stuck or misbehaved); the next command starts afresh. */
  private kill(pending: Pending, err: TidelineError): void {
    const child = this.child;
    this.child = undefined;
    child?.kill('SIGKILL');
    this.finish();
    pending.reject(err);
    this.next();
  }

  /** The process went away: the command in flight fails; queued ones start a new session. */
  private lost(reason: string): void {
    const pending = this.current;
    this.child = undefined;
    this.finish();
    this.options.log.warn({ uri: this.options.uri, reason }, 'virsh session ended');
    pending?.reject(
      new TidelineError(
        'UNAVAILABLE',
        `virsh ${describe(pending.args)} failed: ${reason}; is libvirtd running (${this.options.uri})?`,
      ),
    );
    if (!this.closed) this.next();
  }

  private finish(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = undefined;
  }

  private fail(err: TidelineError): void {
    const pending = [...(this.current === undefined ? [] : [this.current]), ...this.queue];
    this.queue = [];
    this.finish();
    for (const p of pending) p.reject(err);
  }
}

/** virsh's parser: single quotes are literal; a quote inside is written '"'"'. */
function quote(arg: string): string {
  return `'${arg.replaceAll("'", `'"'"'`)}'`;
}
