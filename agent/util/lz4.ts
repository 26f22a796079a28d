import { loadNative } from './native-module';

/**
 * LZ4 block compression (lz4-napi, the Rust lz4_flex crate behind N-API). Its block format
 * starts with the uncompressed size (u32 little-endian); `compress` runs on libuv's thread
 * pool, so compressing a frame's chunks uses every core the pool has.
 */
export interface Lz4 {
  compress(data: Uint8Array): Promise<Buffer>;
  uncompressSync(data: Uint8Array): Buffer;
}

/**
 * The package's binary (lib/native/lz4.node) or node_modules'. Where neither loads the agent
 * has no LZ4: it then speaks peer protocol 1 and sends everything uncompressed.
 */
export const LZ4: Lz4 | undefined = loadNative<Lz4>(
  ['./native/lz4.node', 'lz4-napi'],
  (m) => typeof m.compress === 'function' && typeof m.uncompressSync === 'function',
);
