import { setFlagsFromString } from 'node:v8';

/** Old generation limit after a full collection: (1 + percent/100) × the live heap. */
export const HEAP_GROWING_PERCENT = 300;

/**
 * Gives V8's full collections room on the data path. An agent's live JS heap is small (≈ 22
 * MiB), so V8 sets the old generation's limit close above it (≈ 46 MiB), and the external
 * memory a replication stream allocates at the data rate (TLS read chunks, I/O buffers) counts
 * toward that limit: at 160 MiB/s the recovery agent reached it every ~80 ms and ran ~120
 * mark-compacts in 30 s, a third of its CPU, with only 1–2 MB of JS allocated between them
 * (--trace-gc-nvp). A fixed factor of 4 leaves 2–3 full collections a run; the heap stays
 * bounded by 4 × the live heap. Measured in bench/README.md (issue 16).
 *
 * V8 reads the factor when it next sets a limit, so setting it at startup is enough.
 */
export function tuneHeapForStreaming(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
