const SLOT_MS = 100;
const SLOTS = 50; // a 5 s window

/** Bytes per second over the last few seconds, from completions (a ring of 100 ms slots). */
export class RateMeter {
  private readonly slots = new Float64Array(SLOTS);
  private slot: number;
  private readonly since: number;

  constructor(private readonly clock: () => number) {
    this.since = clock();
    this.slot = Math.floor(this.since / SLOT_MS);
  }

  add(bytes: number): void {
    this.advance();
    this.slots[this.slot % SLOTS] = (this.slots[this.slot % SLOTS] ?? 0) + bytes;
  }

  bytesPerSecond(): number {
    this.advance();
    const now = this.clock();
    // The ring holds exactly the last SLOTS slots (advance() zeroes stale ones), the current
    // one partly elapsed; before the window is full, only the time since creation counts.
    let sum = 0;
    for (const bytes of this.slots) sum += bytes;
    const partial = now - this.slot * SLOT_MS;
    const covered = Math.min(now - this.since, (SLOTS - 1) * SLOT_MS + partial);
    return covered >= SLOT_MS ? (sum * 1000) / covered : 0;
  }

  private advance(): void {
    const current = Math.floor(this.clock() / SLOT_MS);
    const gap = Math.min(current - this.slot, SLOTS);
    for (let i = 1; i <= gap; i += 1) this.slots[(this.slot + i) % SLOTS] = 0;
    this.slot = current;
  }
}
