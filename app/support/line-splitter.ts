/**
 * Text fed in chunks, cut into lines (without their '\n'), never holding more than
 * `maxLineChars` of one line: a longer line is cut there, marked, and the rest of it skipped.
 * A log written by a broken or hostile party cannot make a bundle's reader buffer without end.
 */
export const TRUNCATED_MARK = ' …[line truncated]';

export class LineSplitter {
  private pending = '';
  private skipping = false;

  constructor(private readonly maxLineChars: number) {}

  /** The lines completed by `chunk`. */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      const piece = chunk.slice(start, nl < 0 ? chunk.length : nl);
      if (!this.skipping) this.pending += piece;
      if (!this.skipping && this.pending.length > this.maxLineChars) {
        lines.push(this.pending.slice(0, this.maxLineChars) + TRUNCATED_MARK);
        this.pending = '';
        this.skipping = true;
      }
      if (nl < 0) return lines;
      if (!this.skipping) lines.push(stripCr(this.pending));
      this.pending = '';
      this.skipping = false;
      start = nl + 1;
    }
  }

  /** The last line, if the text did not end with '\n'. */
  end(): string[] {
    const last = this.skipping || this.pending === '' ? [] : [stripCr(this.pending)];
    this.pending = '';
    this.skipping = false;
    return last;
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
