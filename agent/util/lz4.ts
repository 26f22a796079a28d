import { createRequire } from 'node:module';

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
 * The agent package ships the binary beside the bundle (lib/native/lz4.node,
 * scripts/package-agent.mjs), a checkout loads it from node_modules; where neither loads (a
 * lone bundle, another libc) the agent has no LZ4: it then speaks peer protocol 1 and sends
 * everything uncompressed.
 */
function load(): Lz4 | undefined {
  const require = createRequire(import.meta.url);
  for (const id of ['./native/lz4.node', 'lz4-napi']) {
    try {
      const native = require(id) as Partial<Lz4>;
      if (typeof native.compress === 'function' && typeof native.uncompressSync === 'function') {
        return native as Lz4;
      }
    } catch {
      // Not there (or not loadable on this host): the next one.
    }
  }
  return undefined;
}

export const LZ4: Lz4 | undefined = load();
