import { open } from 'node:fs/promises';

/** How many bytes of a file the probe reads (every signature below lies within them). */
export const PROBE_BYTES = 512;

interface Signature {
  readonly format: string;
  readonly offset: number;
  readonly magic: Buffer;
}

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Image formats whose files are not the disk's bytes (qemu's probes, by first sectors). */
const SIGNATURES: readonly Signature[] = [
  { format: 'qcow2', offset: 0, magic: Buffer.from([0x51, 0x46, 0x49, 0xfb]) }, // "QFI\xfb" (qcow too)
  { format: 'qed', offset: 0, magic: Buffer.from([0x51, 0x45, 0x44, 0x00]) }, // "QED\0"
  { format: 'vmdk', offset: 0, magic: ascii('KDMV') },
  { format: 'vmdk', offset: 0, magic: ascii('# Disk DescriptorFile') },
  { format: 'vmdk', offset: 0, magic: Buffer.from([0x43, 0x4f, 0x57, 0x44]) }, // "COWD" (ESX)
  { format: 'vhdx', offset: 0, magic: ascii('vhdxfile') },
  { format: 'vpc', offset: 0, magic: ascii('conectix') },
  { format: 'vdi', offset: 0x40, magic: Buffer.from([0x7f, 0x10, 0xda, 0xbe]) },
  { format: 'luks', offset: 0, magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { format: 'parallels', offset: 0, magic: ascii('WithoutFreeSpace') },
  { format: 'parallels', offset: 0, magic: ascii('WithouFreSpacExt') },
];

/** The image format a file header announces, or undefined for raw (no known signature). */
export function imageFormatOf(header: Buffer): string | undefined {
  for (const { format, offset, magic } of SIGNATURES) {
    if (header.length < offset + magic.length) continue;
    if (header.subarray(offset, offset + magic.length).equals(magic)) return format;
  }
  return undefined;
}

/**
 * Reads the first bytes of a disk file and names its image format (undefined: raw). Throws
 * the open/read error (ENOENT, EACCES, …) for the caller to word.
 */
export async function probeImageFormat(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(PROBE_BYTES);
    const { bytesRead } = await handle.read(header, 0, PROBE_BYTES, 0);
    return imageFormatOf(header.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
