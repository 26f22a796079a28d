/**
 * At most once per interval: for a warning, or a check, that a loop or a stream of receives
 * would otherwise repeat on every turn.
 */
export class OncePer {
  private last = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True, starting a new interval, when the last true was `intervalMs` or more ago. */
  take(): boolean {
    const now = this.now();
    if (now - this.last < this.intervalMs) return false;
    this.last = now;
    return true;
  }
}
