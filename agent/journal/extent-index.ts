/**
 * The point-in-time view of one disk: which source holds each byte at checkpoint C.
 *
 * Input: the disk's journal records with appliedSeq < seq < C, in seq order (so a record's
 * index in the input is its rank by seq). Each covers [start, end) and is either data at a
 * journal location or zeros (zero/trim). Output: an ExtentMap, sorted disjoint pieces that
 * tile the requested range; every byte resolves to the newest record covering it, or to the
 * replica when no record covers it.
 *
 * Algorithm: a sweep over record starts with a max-heap of "open" records keyed by seq
 * (lazy deletion of records that ended) — the skyline problem. With k records for the disk
 * (n records of all disks between appliedSeq and C scanned to collect them):
 *   resolve: O(n + k log k) time, O(k) memory, at most 2k + 1 pieces;
 *   lookup of an offset: O(log p) by binary search over the p pieces.
 * The cost is the same for every retained checkpoint (no replay from the oldest point beyond
 * the records that lie before C), and the journal caches the maps it resolved until the next
 * apply changes the replica.
 */

export const SOURCE_REPLICA = 0;
export const SOURCE_ZERO = 1;
export const SOURCE_JOURNAL = 2;
export type PieceSource = typeof SOURCE_REPLICA | typeof SOURCE_ZERO | typeof SOURCE_JOURNAL;

/** One disk's records in seq order, as parallel columns; `ref` says which segment holds data. */
export class ExtentInput<T> {
  readonly start: number[] = [];
  readonly end: number[] = [];
  readonly zero: boolean[] = [];
  readonly ref: (T | undefined)[] = [];
  readonly dataPos: number[] = [];

  get count(): number {
    return this.start.length;
  }

  addData(start: number, length: number, ref: T, dataPos: number): void {
    if (length <= 0) return;
    this.start.push(start);
    this.end.push(start + length);
    this.zero.push(false);
    this.ref.push(ref);
    this.dataPos.push(dataPos);
  }

  addZero(start: number, length: number): void {
    if (length <= 0) return;
    this.start.push(start);
    this.end.push(start + length);
    this.zero.push(true);
    this.ref.push(undefined);
    this.dataPos.push(0);
  }
}

export interface Piece<T> {
  readonly start: number;
  readonly end: number;
  readonly source: PieceSource;
  /** For SOURCE_JOURNAL: the segment and the file position of the piece's first byte. */
  readonly ref: T | undefined;
  readonly position: number;
}

export class ExtentMap<T> {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly sources: PieceSource[] = [];
  private readonly refs: (T | undefined)[] = [];
  private readonly positions: number[] = [];

  get size(): number {
    return this.starts.length;
  }

  /** Appends the piece after the last one, merging it when it continues the same source. */
  add(start: number, end: number, source: PieceSource, ref?: T, position = 0): void {
    const last = this.starts.length - 1;
    if (last >= 0 && this.ends[last] === start && this.sources[last] === source) {
      const continues =
        source !== SOURCE_JOURNAL ||
        (this.refs[last] === ref &&
          (this.positions[last] as number) + (start - (this.starts[last] as number)) === position);
      if (continues) {
        this.ends[last] = end;
        return;
      }
    }
    this.starts.push(start);
    this.ends.push(end);
    this.sources.push(source);
    this.refs.push(ref);
    this.positions.push(position);
  }

  piece(i: number): Piece<T> {
    const start = this.starts[i];
    if (start === undefined) throw new RangeError(`no piece ${i}`);
    return {
      start,
      end: this.ends[i] as number,
      source: this.sources[i] as PieceSource,
      ref: this.refs[i],
      position: this.positions[i] as number,
    };
  }

  /** Index of the piece containing `offset`, or -1 outside the map. */
  find(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.starts[mid] as number) > offset) hi = mid - 1;
      else if ((this.ends[mid] as number) <= offset) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The pieces overlapping [from, to), clipped to it, in order. */
  *overlapping(from: number, to: number): Generator<Piece<T>> {
    for (let i = Math.max(0, this.find(from)); i < this.size; i += 1) {
      const p = this.piece(i);
      if (p.start >= to) return;
      if (p.end <= from) continue;
      const start = Math.max(p.start, from);
      yield {
        start,
        end: Math.min(p.end, to),
        source: p.source,
        ref: p.ref,
        position: p.position + (start - p.start),
      };
    }
  }
}

/** Resolves [from, to) of a disk from its records (see the complexity note above). */
export function resolveExtents<T>(input: ExtentInput<T>, from: number, to: number): ExtentMap<T> {
  const { start, end, zero, ref, dataPos } = input;
  const relevant: number[] = [];
  for (let i = 0; i < input.count; i += 1) {
    if ((start[i] as number) < to && (end[i] as number) > from) relevant.push(i);
  }
  const order = Uint32Array.from(relevant).sort(
    (a, b) => (start[a] as number) - (start[b] as number),
  );
  const heap = new MaxHeap(order.length);
  const map = new ExtentMap<T>();
  let next = 0;
  let pos = from;
  while (pos < to) {
    while (next < order.length && (start[order[next] as number] as number) <= pos) {
      heap.push(order[next] as number);
      next += 1;
    }
    while (heap.size > 0 && (end[heap.top] as number) <= pos) heap.pop();
    const nextStart = next < order.length ? (start[order[next] as number] as number) : Infinity;
    if (heap.size === 0) {
      const stop = Math.min(nextStart, to);
      map.add(pos, stop, SOURCE_REPLICA);
      pos = stop;
      continue;
    }
    const top = heap.top;
    const stop = Math.min(end[top] as number, nextStart, to);
    if (zero[top] === true) map.add(pos, stop, SOURCE_ZERO);
    else
      map.add(
        pos,
        stop,
        SOURCE_JOURNAL,
        ref[top],
        (dataPos[top] as number) + (pos - (start[top] as number)),
      );
    pos = stop;
  }
  return map;
}

/** A binary max-heap of record indices (a larger index is a newer record). */
class MaxHeap {
  private readonly items: Uint32Array;
  size = 0;

  constructor(capacity: number) {
    this.items = new Uint32Array(Math.max(1, capacity));
  }

  get top(): number {
    return this.items[0] as number;
  }

  push(value: number): void {
    const items = this.items;
    let i = this.size;
    this.size += 1;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const p = items[parent] as number;
      if (p >= value) break;
      items[i] = p;
      i = parent;
    }
    items[i] = value;
  }

  pop(): void {
    const items = this.items;
    this.size -= 1;
    const last = items[this.size] as number;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.size) break;
      const right = left + 1;
      const child =
        right < this.size && (items[right] as number) > (items[left] as number) ? right : left;
      if ((items[child] as number) <= last) break;
      items[i] = items[child] as number;
      i = child;
    }
    items[i] = last;
  }
}
