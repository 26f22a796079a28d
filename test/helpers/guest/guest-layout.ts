/**
 * The on-disk layout of the Tideline test guest, shared by the image builder, the disk
 * writer and the record oracle. tl-guest.c has the same numbers (see README.md).
 */

const MiB = 1024 * 1024;

export const GUEST_LAYOUT = {
  sectorSize: 512,
  /** Partition 1 (FAT, syslinux, vmlinuz, initrd): from 1 MiB, 24 MiB long. */
  bootPartitionOffset: 1 * MiB,
  bootPartitionBytes: 24 * MiB,
  /** Partition 2, the records area, from here to the end of the disk (1 MiB aligned). */
  recordsPartitionOffset: 25 * MiB,
  /** Offsets inside partition 2. */
  configOffset: 0,
  ownerOffset: 512,
  bootCountOffset: 1024,
  firstRecordOffset: 4096,
  recordSize: 512,
  /** The size of the template disk, and the default of createGuestDisk. */
  templateBytes: 64 * MiB,
} as const;

export type GuestLayout = typeof GUEST_LAYOUT;

/** What tl-guest does on boot; written to sector 0 of partition 2. */
export type GuestConfig =
  | {
      readonly mode?: 'records';
      /** How many records the writer writes, then it prints TL-DONE. */
      readonly records: number;
      /** Records per second; 0 (default) is as fast as flushes go. */
      readonly rate?: number;
      /** Reboot the guest once when record K is next (0, default: never). */
      readonly rebootAt?: number;
    }
  | { readonly mode: 'bench-flush'; readonly seconds: number }
  | { readonly mode: 'bench-seq'; readonly mib: number }
  /** After `delay` seconds (the host protects the disk meanwhile): bench-flush, then bench-seq. */
  | {
      readonly mode: 'bench';
      readonly delay: number;
      readonly seconds: number;
      readonly mib: number;
    };

function whole(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`guest config: ${name} must be a whole number >= 0 (got ${value})`);
  }
  return value;
}

/** The config line, e.g. `TLCONF1 mode=records records=300 rate=0 reboot_at=0`. */
export function guestConfigLine(config: GuestConfig): string {
  switch (config.mode) {
    case 'bench-flush':
      return `TLCONF1 mode=bench-flush seconds=${whole('seconds', config.seconds)}`;
    case 'bench-seq':
      return `TLCONF1 mode=bench-seq mib=${whole('mib', config.mib)}`;
    case 'bench':
      return (
        `TLCONF1 mode=bench delay=${whole('delay', config.delay)}` +
        ` seconds=${whole('seconds', config.seconds)} mib=${whole('mib', config.mib)}`
      );
    default:
      return (
        `TLCONF1 mode=records records=${whole('records', config.records)}` +
        ` rate=${whole('rate', config.rate ?? 0)} reboot_at=${whole('rebootAt', config.rebootAt ?? 0)}`
      );
  }
}

/** The config sector: the line, a newline, zero padding. */
export function encodeGuestConfig(config: GuestConfig): Buffer {
  const sector = Buffer.alloc(GUEST_LAYOUT.sectorSize);
  sector.write(`${guestConfigLine(config)}\n`, 'ascii');
  return sector;
}
