import { crc32 as zlibCrc32 } from 'node:zlib';
import { loadNative } from './native-module';

/** CRC-32 (IEEE, as zlib and gzip), continuing from `initial` (a previous part's CRC). */
export type Crc32 = (data: Uint8Array, initial?: number) => number;

/** Where the CRC-32 of records comes from: both give the same values. */
export type Crc32Implementation = 'native' | 'zlib';

interface NativeCrc32 {
  readonly crc32: (data: Uint8Array, initial?: number | null) => number;
}

/**
 * Every record is checksummed once at the source and verified once at the target, so CRC-32
 * is a fixed cost per byte replicated. zlib's runs at about 5–6 GiB/s here; @node-rs/crc32
 * (carry-less multiplication, SSE4.2/PCLMULQDQ or ARMv8 CRC) at 17–30 GiB/s. The agent package
 * ships its binary beside the bundle (lib/native/crc32.node, scripts/package-agent.mjs); a
 * checkout loads it from node_modules; anywhere else (another libc, a lone bundle) zlib's is
 * used. The values are the same, so an agent of either kind reads the other's records.
 */
function load(): { crc32: Crc32; implementation: Crc32Implementation } {
  const native = loadNative<NativeCrc32>(
    ['./native/crc32.node', '@node-rs/crc32'],
    (m) => typeof m.crc32 === 'function',
  );
  return native !== undefined
    ? { crc32: native.crc32, implementation: 'native' }
    : { crc32: zlibCrc32, implementation: 'zlib' };
}

const loaded = load();

export const crc32: Crc32 = loaded.crc32;
export const CRC32_IMPLEMENTATION: Crc32Implementation = loaded.implementation;
