/**
 * The highest seq S such that every seq up to S has completed, from completions that arrive
 * out of order (disk writes run in parallel). Completions usually arrive in order, so the
 * common case touches no set at all.
 */
export class SeqWatermark {
  private readonly early = new Set<number>();

  constructor(private current: number) {}

  get value(): number {
    return this.current;
  }

  /** Records that `seq` completed; returns true when the watermark moved. */
  complete(seq: number): boolean {
    if (seq <= this.current) return false;
    if (seq !== this.current + 1) {
      this.early.add(seq);
      return false;
    }
    this.current = seq;
    while (this.early.delete(this.current + 1)) this.current += 1;
    return true;
  }

  /** Moves the watermark forward to `seq` (redo applied everything up to it). */
  advanceTo(seq: number): void {
    if (seq <= this.current) return;
    this.current = seq;
    for (const s of this.early) if (s <= seq) this.early.delete(s);
    while (this.early.delete(this.current + 1)) this.current += 1;
  }
}
