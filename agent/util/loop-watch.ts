import type { Logger } from '../log';

/** How often the watch's timer is due; a stall is the time it came late by. */
const PERIOD_MS = 250;
/** Stalls at least this long are logged: a second without ticks, acks or NBD replies. */
export const STALL_LOG_MS = 1000;

/**
 * Logs every stall of the event loop of a second or more ('event loop stalled', with
 * stalledMs): everything of the agent (NBD replies, the sender, acks, rpo.tick) waits behind
 * it, and a stalled agent explains a missed RPO or a late failover that its other logs cannot
 * (a synchronous write held by the kernel's dirty-page throttling, a long GC, a starved host).
 */
export class LoopWatch {
  private timer: NodeJS.Timeout | undefined;
  private due = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.due = this.now() + PERIOD_MS;
    this.timer = setInterval(() => this.check(), PERIOD_MS);
    this.timer.unref();
  }

  /** The timer's callback (public for tests): how late it came, logged when a stall. */
  check(): number {
    const now = this.now();
    const late = now - this.due;
    this.due = now + PERIOD_MS;
    if (late >= STALL_LOG_MS) {
      this.log.warn({ stalledMs: Math.round(late) }, 'event loop stalled');
    }
    return late;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
