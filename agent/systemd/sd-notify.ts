import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../log';

const run = promisify(execFile);

/** systemd's own client for the notify socket; waits until the manager has read each message. */
const NOTIFY_COMMAND = 'systemd-notify';
/** A message that takes longer is given up (the manager is gone or stuck). */
const SEND_TIMEOUT_MS = 10_000;

export interface SdNotifyOptions {
  readonly log: Logger;
  /** Default process.env: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default 'systemd-notify' (tests give a path). */
  readonly command?: string;
  readonly pid?: number;
}

/**
 * The service manager protocol of a `Type=notify` unit (sd_notify(3)): READY=1 once the agent
 * serves, WATCHDOG=1 at half the unit's WatchdogSec while the event loop runs, STOPPING=1 on
 * SIGTERM, STATUS= for `systemctl status`.
 *
 * Node cannot send a unix datagram, so each message is sent by systemd-notify, which (since
 * systemd 246) waits until the manager has processed it: the message cannot be dropped for
 * coming from a process that already exited, the race sd_notify(3) warns about. The unit sets
 * NotifyAccess=all, which admits processes of its own cgroup only. Without NOTIFY_SOCKET (not
 * run by systemd) every call does nothing.
 */
export class SdNotify {
  private readonly env: NodeJS.ProcessEnv;
  private watchdog: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: SdNotifyOptions) {
    this.env = options.env ?? process.env;
  }

  /** Run by a service manager that listens for notifications. */
  get enabled(): boolean {
    return (this.env['NOTIFY_SOCKET'] ?? '') !== '';
  }

  /** The watchdog period the unit asks for (WATCHDOG_USEC, if meant for this process), in ms. */
  get watchdogMs(): number | undefined {
    const usec = Number(this.env['WATCHDOG_USEC'] ?? '');
    const pid = this.env['WATCHDOG_PID'];
    if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
    if (pid !== undefined && pid !== '' && Number(pid) !== (this.options.pid ?? process.pid)) {
      return undefined;
    }
    return Math.max(1, Math.floor(usec / 1000));
  }

  /** The agent serves: READY=1, and the watchdog pings start. */
  async ready(status: string): Promise<void> {
    if (this.stopped) return; // a signal came while starting
    await this.send(['READY=1', `STATUS=${status}`]);
    this.startWatchdog();
  }

  async status(status: string): Promise<void> {
    await this.send([`STATUS=${status}`]);
  }

  /** SIGTERM: STOPPING=1 (the watchdog stops: shutting down may take a while). */
  async stopping(status: string): Promise<void> {
    this.stopped = true;
    this.stopWatchdog();
    await this.send(['STOPPING=1', `STATUS=${status}`]);
  }

  stopWatchdog(): void {
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private startWatchdog(): void {
    const period = this.watchdogMs;
    if (!this.enabled || period === undefined || this.watchdog !== undefined) return;
    // Pinged from a timer: a blocked event loop stops the pings and systemd restarts the agent.
    this.watchdog = setInterval(() => void this.send(['WATCHDOG=1']), Math.ceil(period / 2));
    this.watchdog.unref();
  }

  /** One message at a time, in order; failures are logged, never thrown (the agent goes on). */
  private send(assignments: readonly string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const next = this.queue.then(async () => {
      try {
        await run(this.options.command ?? NOTIFY_COMMAND, [...assignments], {
          env: this.env,
          timeout: SEND_TIMEOUT_MS,
        });
      } catch (err) {
        this.options.log.warn(
          { err: err instanceof Error ? err.message : String(err), assignments },
          'cannot notify the service manager',
        );
      }
    });
    this.queue = next;
    return next;
  }
}
