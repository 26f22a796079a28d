import { BufferPool } from '../../util/buffer-pool';
import { TidelineError } from '../../../app/errors';
import type { WorkloadContent } from '../../../app/protocol';
import type { Tap } from '../../tap/tap';
import { Prng } from './prng';
import { RateMeter } from './workload-meter';
import { DEFAULT_WRITE_MIX, WriteSizes, type WriteMix } from './workload-mix';

export interface WorkloadDisk {
  readonly diskId: string;
  readonly sizeBytes: number;
}

export interface WorkloadSettings {
  /** Change rate in bytes per second (0 = idle). */
  readonly bytesPerSecond: number;
  readonly mix?: WriteMix;
  /**
   * Share of writes (0..1) that land in each disk's hot zone (a fixed 5% of the disk, at
   * least 64 MiB), the rest anywhere: real guests rewrite the same blocks. Default 0.5.
   */
  readonly locality?: number;
  /** What the writes hold (default `random`): `text` is low-entropy, for the change signal. */
  readonly content?: WorkloadContent;
}

export interface WorkloadStatus {
  readonly vmId: string;
  readonly bytesPerSecond: number;
  readonly mix: WriteMix;
  readonly locality: number;
  readonly paused: boolean;
  readonly content: WorkloadContent;
  /** Bytes/s of completed writes over the last 5 s (or since the last rate change). */
  readonly measuredBytesPerSecond: number;
  readonly writes: number;
  readonly bytes: number;
  readonly errors: number;
  readonly lastError?: string;
}

export interface WorkloadOptions {
  readonly tap: Tap;
  /** Same seed, same VM ids and settings → the same writes in the same order. */
  readonly seed?: string;
  /** Pacing period (default 10 ms): tokens are added this often, so writes are spread evenly. */
  readonly tickMs?: number;
  /** Writes in flight per VM (default 8), like a guest's queue depth. */
  readonly maxInFlight?: number;
  /** Monotonic ms (default performance.now). */
  readonly clock?: () => number;
}

const SECTOR = 4096;
const POOL_BYTES = 4 * 1024 * 1024;
/**
 * The guests' write buffers, page-aligned as QEMU's are: a large aligned write then goes to
 * the disk file through O_DIRECT as it is (tap/disk-file.ts), no staging copy.
 */
const DATA_POOL = new BufferPool({
  minBytes: 64 * 1024,
  maxBytes: 4 * 1024 * 1024,
  idleBytes: 32 * 1024 * 1024,
  aligned: true,
});
const HOT_SHARE = 0.05;
const HOT_MIN = 64 * 1024 * 1024;

interface DiskPlan extends WorkloadDisk {
  readonly hotStart: number;
  readonly hotBytes: number;
}

interface VmLoad {
  readonly vmId: string;
  readonly disks: readonly DiskPlan[];
  readonly totalBytes: number;
  readonly rng: Prng;
  rate: number;
  sizes: WriteSizes;
  locality: number;
  content: WorkloadContent;
  paused: boolean;
  /** Token bucket; may go negative (a write larger than the tokens on hand is paid for later). */
  tokens: number;
  nextSize: number;
  inFlight: number;
  readonly pending: Set<Promise<void>>;
  meter: RateMeter;
  writes: number;
  bytes: number;
  errors: number;
  lastError: string | undefined;
  serial: number;
}

/**
 * The sim hypervisor's guests: per VM, writes through the tap at a set change rate and
 * size mix, to random sector-aligned offsets of its disks. Paced by a token bucket refilled
 * every tick (not a second's worth at once), capped so a stalled tap is not followed by a burst.
 */
export class WorkloadGenerator {
  private readonly vms = new Map<string, VmLoad>();
  private readonly tickMs: number;
  private readonly maxInFlight: number;
  private readonly clock: () => number;
  private readonly pool: Buffer;
  /** Made on first use: most runs never write text. */
  private textPool: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;

  constructor(private readonly options: WorkloadOptions) {
    this.tickMs = options.tickMs ?? 10;
    this.maxInFlight = options.maxInFlight ?? 8;
    this.clock = options.clock ?? (() => performance.now());
    this.pool = makePool(new Prng(`${options.seed ?? 'tideline'}/pool`));
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.lastTick = this.clock();
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  /** Stops issuing and waits for the writes in flight. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.vms.values()].flatMap((vm) => [...vm.pending]));
  }

  addVm(vmId: string, disks: readonly WorkloadDisk[], settings: WorkloadSettings): void {
    if (this.vms.has(vmId)) {
      throw new TidelineError('ALREADY_EXISTS', `VM ${vmId} already has a workload`);
    }
    if (disks.length === 0) {
      throw new TidelineError('INVALID_PARAMS', `VM ${vmId} has no disk to write to`);
    }
    const rng = new Prng(`${this.options.seed ?? 'tideline'}/${vmId}`);
    const plans = disks.map((d) => {
      const hotBytes = Math.min(d.sizeBytes, Math.max(HOT_MIN, d.sizeBytes * HOT_SHARE));
      const slots = Math.floor((d.sizeBytes - hotBytes) / SECTOR);
      return { ...d, hotBytes, hotStart: rng.int(0, Math.max(0, slots)) * SECTOR };
    });
    const sizes = new WriteSizes(settings.mix ?? DEFAULT_WRITE_MIX);
    const vm: VmLoad = {
      vmId,
      disks: plans,
      totalBytes: plans.reduce((n, d) => n + d.sizeBytes, 0),
      rng,
      rate: checkRate(settings.bytesPerSecond),
      sizes,
      locality: checkLocality(settings.locality ?? 0.5),
      content: settings.content ?? 'random',
      paused: false,
      tokens: 0,
      nextSize: sizes.draw(rng),
      inFlight: 0,
      pending: new Set(),
      meter: new RateMeter(this.clock),
      writes: 0,
      bytes: 0,
      errors: 0,
      lastError: undefined,
      serial: 0,
    };
    this.vms.set(vmId, vm);
  }

  /** Stops a VM's workload and waits for its writes in flight. */
  async removeVm(vmId: string): Promise<void> {
    const vm = this.get(vmId);
    this.vms.delete(vmId);
    await Promise.allSettled([...vm.pending]);
  }

  hasVm(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  /** Changes a VM's rate (and mix) at once; the measured rate restarts from this moment. */
  setRate(
    vmId: string,
    bytesPerSecond: number,
    mix?: WriteMix,
    locality?: number,
    content?: WorkloadContent,
  ): WorkloadStatus {
    const vm = this.get(vmId);
    if (content !== undefined) vm.content = content;
    vm.rate = checkRate(bytesPerSecond);
    if (mix !== undefined) {
      vm.sizes = new WriteSizes(mix);
      vm.nextSize = vm.sizes.draw(vm.rng);
    }
    if (locality !== undefined) vm.locality = checkLocality(locality);
    // A debt left by a large write at the old rate would hold the new rate back.
    vm.tokens = 0;
    vm.meter = new RateMeter(this.clock);
    return this.status(vmId);
  }

  /** Pauses one VM's workload, or all. Writes already issued still land: see settle(). */
  pause(vmId?: string): void {
    for (const vm of this.select(vmId)) vm.paused = true;
  }

  /** Resolves once the writes a VM (or every VM) has in flight have landed. */
  async settle(vmId?: string): Promise<void> {
    await Promise.allSettled(this.select(vmId).flatMap((vm) => [...vm.pending]));
  }

  resume(vmId?: string): void {
    for (const vm of this.select(vmId)) {
      if (!vm.paused) continue;
      vm.paused = false;
      vm.tokens = 0; // no catching up for the paused time
      vm.meter = new RateMeter(this.clock);
    }
  }

  status(vmId: string): WorkloadStatus {
    const vm = this.get(vmId);
    return {
      vmId,
      bytesPerSecond: vm.rate,
      mix: vm.sizes.mix,
      locality: vm.locality,
      paused: vm.paused,
      content: vm.content,
      measuredBytesPerSecond: Math.round(vm.meter.bytesPerSecond()),
      writes: vm.writes,
      bytes: vm.bytes,
      errors: vm.errors,
      ...(vm.lastError !== undefined && { lastError: vm.lastError }),
    };
  }

  list(): WorkloadStatus[] {
    return [...this.vms.keys()].map((id) => this.status(id));
  }

  private tick(): void {
    const now = this.clock();
    const elapsed = Math.max(0, now - this.lastTick);
    this.lastTick = now;
    for (const vm of this.vms.values()) {
      if (vm.paused || vm.rate === 0) continue;
      vm.tokens = Math.min(vm.tokens + (vm.rate * elapsed) / 1000, this.burst(vm));
      while (vm.tokens > 0 && vm.inFlight < this.maxInFlight) {
        const size = vm.nextSize;
        vm.nextSize = vm.sizes.draw(vm.rng);
        vm.tokens -= size;
        this.issue(vm, size);
      }
    }
  }

  /**
   * Tokens the bucket may hold: 100 ms' worth (at least two ticks), so a late timer on a busy
   * host does not lose rate, and a stalled tap is not followed by more than a short burst.
   */
  private burst(vm: VmLoad): number {
    return (vm.rate * Math.max(100, this.tickMs * 2)) / 1000;
  }

  private issue(vm: VmLoad, size: number): void {
    const disk = this.pickDisk(vm);
    const length = Math.min(size, Math.floor(disk.sizeBytes / SECTOR) * SECTOR);
    const offset = this.pickOffset(vm, disk, length);
    const data = this.content(vm, length);
    vm.inFlight += 1;
    const write = this.options.tap.write(disk.diskId, offset, data).then(
      () => {
        DATA_POOL.give(data); // written: the tap holds none of it now
        vm.writes += 1;
        vm.bytes += length;
        vm.meter.add(length);
      },
      (err: unknown) => {
        vm.errors += 1;
        vm.lastError = err instanceof Error ? err.message : String(err);
      },
    );
    vm.pending.add(write);
    void write.finally(() => {
      vm.inFlight -= 1;
      vm.pending.delete(write);
    });
  }

  private pickDisk(vm: VmLoad): DiskPlan {
    let r = vm.rng.next() * vm.totalBytes;
    for (const disk of vm.disks) {
      if (r < disk.sizeBytes) return disk;
      r -= disk.sizeBytes;
    }
    return vm.disks[vm.disks.length - 1] as DiskPlan;
  }

  private pickOffset(vm: VmLoad, disk: DiskPlan, length: number): number {
    const hot = vm.rng.next() < vm.locality;
    const start = hot ? disk.hotStart : 0;
    const span = hot ? disk.hotBytes : disk.sizeBytes;
    const slots = Math.max(0, Math.floor((span - length) / SECTOR));
    const offset = start + vm.rng.int(0, slots) * SECTOR;
    return Math.min(offset, disk.sizeBytes - length);
  }

  /**
   * Random-looking data (or text) from a seeded pool, each 4 KiB block stamped with the VM's
   * write serial and block number, so no two blocks are the same (a dedupe must not flatter us).
   */
  private content(vm: VmLoad, length: number): Buffer {
    const data = DATA_POOL.take(length);
    vm.serial += 1;
    const text = vm.content === 'text';
    const pool = text
      ? (this.textPool ??= makeTextPool(new Prng(`${this.options.seed ?? 'tideline'}/text`)))
      : this.pool;
    let at = 0;
    while (at < length) {
      const from = vm.rng.int(0, (POOL_BYTES - SECTOR) / 8) * 8;
      const n = Math.min(SECTOR, length - at);
      pool.copy(data, at, from, from + n);
      if (text) {
        // Still text: the stamp in base 36, like a line number.
        const stamp = `${vm.serial.toString(36)}.${(at / SECTOR).toString(36)} `;
        data.write(stamp, at, Math.min(n, stamp.length), 'latin1');
      } else if (n >= 16) {
        data.writeUInt32LE(vm.serial % 2 ** 32, at);
        data.writeUInt32LE(Math.floor(vm.serial / 2 ** 32), at + 4);
        data.writeUInt32LE(at / SECTOR, at + 8);
      }
      at += n;
    }
    return data;
  }

  private select(vmId: string | undefined): VmLoad[] {
    return vmId === undefined ? [...this.vms.values()] : [this.get(vmId)];
  }

  private get(vmId: string): VmLoad {
    const vm = this.vms.get(vmId);
    if (vm === undefined) throw new TidelineError('NOT_FOUND', `VM ${vmId} has no workload`);
    return vm;
  }
}

function checkRate(bytesPerSecond: number): number {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0 || bytesPerSecond > 10 * 1024 ** 3) {
    throw new TidelineError(
      'INVALID_PARAMS',
      `Change rate ${bytesPerSecond} bytes/s is not between 0 and 10 GiB/s`,
    );
  }
  return bytesPerSecond;
}

function checkLocality(locality: number): number {
  if (!Number.isFinite(locality) || locality < 0 || locality > 1) {
    throw new TidelineError('INVALID_PARAMS', `Locality ${locality} is not between 0 and 1`);
  }
  return locality;
}

/**
 * Text from a small seeded dictionary: lowercase words of 2–9 letters, spaces, a capital and a
 * full stop now and then, a line break every dozen words (≈ 4.3 bits/byte, like prose).
 */
function makeTextPool(rng: Prng): Buffer {
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const words: string[] = [];
  for (let i = 0; i < 256; i += 1) {
    let word = '';
    const length = rng.int(2, 9);
    // Skewed towards common letters, as in a language.
    for (let j = 0; j < length; j += 1)
      word += letters[Math.floor(rng.next() ** 2 * letters.length)];
    words.push(word);
  }
  const pool = Buffer.alloc(POOL_BYTES);
  let at = 0;
  let inLine = 0;
  let sentenceStart = true;
  while (at < POOL_BYTES) {
    let word = rng.pick(words);
    if (sentenceStart) word = word.charAt(0).toUpperCase() + word.slice(1);
    sentenceStart = rng.next() < 0.08;
    inLine += 1;
    const end = sentenceStart ? '.' : '';
    const sep = inLine % 12 === 0 ? '\n' : ' ';
    at += pool.write(`${word}${end}${sep}`, at, 'latin1');
  }
  return pool;
}

function makePool(rng: Prng): Buffer {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  for (let i = 0; i < POOL_BYTES; i += 4) pool.writeUInt32LE(Math.floor(rng.next() * 2 ** 32), i);
  return pool;
}
