import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Backoff } from '../../../app/backoff';
import type { Logger } from '../../log';

/** One line of `virsh event --all --loop`: which event, for which domain (by name). */
export interface DomainEvent {
  /** lifecycle, block-job-2, reboot, device-removed… */
  readonly event: string;
  readonly domain: string;
  readonly detail: string;
}

const LINE = /^(?:\S+ \S+: )?event '([\w-]+)' for domain '(.*)': ?(.*)$/;

/** Parses an event line as virsh prints it (with or without --timestamp). */
export function parseEventLine(line: string): DomainEvent | undefined {
  const match = LINE.exec(line.trim());
  if (match === null) return undefined;
  return { event: match[1] ?? '', domain: match[2] ?? '', detail: match[3] ?? '' };
}

/**
 * Domain events from libvirtd, through a long-running `virsh event --all --loop`. virsh ends
 * when libvirtd goes away; it is started again with back-off, and `onReconnect` tells the
 * adapter to re-read everything (events sent meanwhile are lost). Events are hints: the
 * adapter re-reads the domain rather than trusting the line.
 */
export class LibvirtEvents {
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 15_000 });
  private stopped = false;
  private startedAt = 0;

  constructor(
    private readonly options: {
      readonly uri: string;
      readonly log: Logger;
      readonly onEvent: (event: DomainEvent) => void;
      readonly onReconnect: () => void;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.launch(false);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }

  private launch(again: boolean): void {
    if (this.stopped) return;
    const child = spawn('virsh', ['-q', '-c', this.options.uri, 'event', '--all', '--loop'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    });
    this.child = child;
    this.startedAt = Date.now();
    if (again) this.options.onReconnect();
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const event = parseEventLine(line);
      if (event !== undefined) this.options.onEvent(event);
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('error', (err) => this.options.log.warn({ err }, 'cannot run virsh event'));
    child.on('close', (code, signal) => {
      lines.close();
      if (this.child !== child || this.stopped) return;
      this.child = undefined;
      // A watcher that ran a while had a good connection: start over quickly.
      if (Date.now() - this.startedAt > 30_000) this.backoff.reset();
      const delay = this.backoff.next();
      this.options.log.warn(
        { code, signal, stderr: stderr.trim().slice(-300), retryMs: delay },
        'libvirt event watcher ended; restarting',
      );
      this.timer = setTimeout(() => this.launch(true), delay);
      this.timer.unref();
    });
  }
}
