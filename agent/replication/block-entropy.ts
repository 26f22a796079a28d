/**
 * The clean-point signal's block entropy in WebAssembly (`block-entropy.wat`): the same
 * operations in the same order as `sampledBlockEntropy` (change-signal.ts), so the same result
 * to the bit, at about a third of the JS loop's cost once the block is in the CPU cache
 * (bench/README.md §§ 25–26). A WebAssembly function reads only its own memory, so blocks are
 * copied into a window of it, 16 at a time, and judged right after, while the copy is cached.
 *
 * The module's binary is embedded (no build step, no file beside the bundle). After changing
 * the .wat: `wat2wasm agent/replication/block-entropy.wat --output=- | base64 -w0` (Debian:
 * wabt) and paste it below; test/unit/block-entropy.test.ts checks the two agree.
 */
export const BLOCK_ENTROPY_WASM_BASE64 =
  'AGFzbQEAAAABBgFgAX8BfAMCAQAFBAEBAgIHFAIGbWVtb3J5AgAHZW50cm9weQAACpkBAZYBAgF8BX8DQCAAIAJBCXRqIQMgA0HAAGohBANAIAMtAABBAXQhBSAFLwEAIQYgASAGQQN0KwOACKAhASAFIAZBAWo7AQAgA0EBaiEDIAMgBEkNAAsgAkEBaiECIAJBCEkNAAtBACEDA0AgA0IANwMAIANBCGohAyADQYAESQ0AC0QAAAAAAAAiQCABRAAAAAAAAIBAo6EL';

const BLOCK_BYTES = 4096;
/** Where the .wat keeps its step table, and how many entries a 512-byte sample needs. */
const TABLE_AT = 1024;
const TABLE_ENTRIES = 513;
const WINDOW_AT = 65536;
export const WINDOW_BLOCKS = 16;

interface BlockEntropyExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly entropy: (at: number) => number;
}

/** The part of the WebAssembly global used here (the agent's TypeScript has no DOM types). */
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** One instance per thread: its memory is the scratch of every signal judged on that thread. */
export class BlockEntropyWindow {
  private readonly bytes: Uint8Array;
  private readonly entropyAt: (at: number) => number;

  /** `stepTable`: change-signal.ts's (c + 1)·log2(c + 1) − c·log2(c), at least 513 entries. */
  constructor(stepTable: Float64Array) {
    const module = new wasm.Module(Buffer.from(BLOCK_ENTROPY_WASM_BASE64, 'base64'));
    const exports = new wasm.Instance(module, {}).exports as BlockEntropyExports;
    // Fixed at two pages (its maximum), so this view is never detached.
    this.bytes = new Uint8Array(exports.memory.buffer);
    new Float64Array(exports.memory.buffer, TABLE_AT, TABLE_ENTRIES).set(
      stepTable.subarray(0, TABLE_ENTRIES),
    );
    this.entropyAt = exports.entropy;
  }

  /**
   * Copies up to WINDOW_BLOCKS whole blocks of `data` from `at` (at most `blocks`) into the
   * window; returns how many. The caller makes sure they lie within `data`.
   */
  load(data: Uint8Array, at: number, blocks: number): number {
    const n = Math.min(blocks, WINDOW_BLOCKS);
    this.bytes.set(data.subarray(at, at + n * BLOCK_BYTES), WINDOW_AT);
    return n;
  }

  /** Bits per byte of the window's block `k` (as loaded last), from its 512-byte sample. */
  entropy(k: number): number {
    return this.entropyAt(WINDOW_AT + k * BLOCK_BYTES);
  }
}
