import { ExtentInput, resolveExtents, type ExtentMap } from './extent-index';
import { isDataKind, isExtentKind } from './record-table';
import type { SegmentFile } from './segment-file';

/**
 * The extent map of one disk for the records with afterSeq < seq < beforeSeq (the view at
 * checkpoint beforeSeq over a replica at afterSeq): the record tables are walked in seq order
 * to collect the disk's records, then resolved (extent-index.ts, O(n + k log k)).
 */
export function diskView(input: {
  readonly segments: readonly SegmentFile[];
  readonly disk: number;
  readonly afterSeq: number;
  readonly beforeSeq: number;
  readonly sizeBytes: number;
}): ExtentMap<SegmentFile> {
  const { segments, disk, afterSeq, beforeSeq } = input;
  const records = new ExtentInput<SegmentFile>();
  for (const segment of segments) {
    if (segment.firstSeq >= beforeSeq) break;
    if (segment.lastSeq <= afterSeq) continue;
    const t = segment.records;
    const end = Math.min(t.count, beforeSeq - segment.firstSeq);
    for (let i = Math.max(0, afterSeq + 1 - segment.firstSeq); i < end; i += 1) {
      if (t.disk[i] !== disk) continue;
      const kind = t.kind[i] as number;
      const offset = t.offset[i] as number;
      const length = t.length[i] as number;
      if (isDataKind(kind)) records.addData(offset, length, segment, t.dataPos[i] as number);
      else if (isExtentKind(kind)) records.addZero(offset, length);
    }
  }
  return resolveExtents(records, 0, input.sizeBytes);
}
