/**
 * Reading the test guest's serial console (the `<log>` file of its serial port): what
 * tl-guest reported with its TL- lines, and the kernel's I/O error messages. Lines are matched
 * anywhere in the text, since a kernel message can land in the middle of a line.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface GuestBoot {
  readonly uuid: string;
  readonly boot: number;
}

export interface GuestIoError {
  readonly op: string;
  readonly rec: number;
  readonly errno: number;
}

export interface GuestVerify {
  readonly records: number;
  readonly gapFree: boolean;
  readonly owner: string;
}

export interface GuestConsole {
  /** TL-BOOT lines, in order (one per boot of the guest). */
  readonly boots: readonly GuestBoot[];
  /** TL-WRITER resume points, one per boot as writer. */
  readonly writerResumes: readonly number[];
  /** The last TL-REC: that many records (0..n-1) were durable. */
  readonly lastRecord: number | undefined;
  /** TL-DONE records=n. */
  readonly done: number | undefined;
  /** The writer's seconds from its first to its last record in the boot that finished. */
  readonly doneSeconds: number | undefined;
  /** TL-REBOOT at=K lines. */
  readonly reboots: readonly number[];
  readonly verify: GuestVerify | undefined;
  readonly bench: {
    readonly flush?: { ops: number; seconds: number; rate: number };
    readonly seq?: { mib: number; seconds: number; mibps: number };
  };
  /** TL-IO-ERROR lines. */
  readonly guestIoErrors: readonly GuestIoError[];
  /** Kernel messages about I/O errors (I/O error, blk_update_request, Buffer I/O error). */
  readonly kernelIoErrors: readonly string[];
  /** Both kinds, as the lines that reported them. */
  readonly ioErrors: readonly string[];
  /** TL-ERROR lines (the guest could not do what its config asked). */
  readonly errors: readonly string[];
  /** The guest acted on the ACPI power button. */
  readonly poweredOff: boolean;
  /** Whether the kernel panicked. */
  readonly panicked: boolean;
}

function all(text: string, pattern: RegExp): RegExpExecArray[] {
  return [...text.matchAll(new RegExp(pattern.source, 'g'))];
}

function last(text: string, pattern: RegExp): RegExpExecArray | undefined {
  return all(text, pattern).at(-1);
}

const KERNEL_IO_ERROR = /I\/O error|blk_update_request|Buffer I\/O error/;

/** What a console log says. */
export function parseGuestConsole(text: string): GuestConsole {
  const lines = text.split(/\r?\n/);
  const num = (s: string | undefined) => Number(s);
  const done = last(text, /TL-DONE records=(\d+)(?: seconds=([\d.]+))?/);
  const verify = last(text, /TL-VERIFY records=(\d+) gapfree=([01]) owner=([0-9a-f-]+)/);
  const flush = last(text, /TL-BENCH flush ops=(\d+) seconds=([\d.]+) rate=([\d.]+)/);
  const seq = last(text, /TL-BENCH seq mib=(\d+) seconds=([\d.]+) mibps=([\d.]+)/);
  const guestIoLines = lines.filter((l) => l.includes('TL-IO-ERROR'));
  const kernelIoErrors = lines.filter((l) => !l.includes('TL-') && KERNEL_IO_ERROR.test(l));
  return {
    boots: all(text, /TL-BOOT uuid=([0-9a-f-]+) boot=(\d+)/).map((m) => ({
      uuid: m[1] ?? '',
      boot: num(m[2]),
    })),
    writerResumes: all(text, /TL-WRITER resume=(\d+)/).map((m) => num(m[1])),
    lastRecord: ((m) => (m ? num(m[1]) : undefined))(last(text, /TL-REC (\d+)/)),
    done: done ? num(done[1]) : undefined,
    doneSeconds: done?.[2] === undefined ? undefined : num(done[2]),
    reboots: all(text, /TL-REBOOT at=(\d+)/).map((m) => num(m[1])),
    verify: verify
      ? { records: num(verify[1]), gapFree: verify[2] === '1', owner: verify[3] ?? '' }
      : undefined,
    bench: {
      ...(flush && { flush: { ops: num(flush[1]), seconds: num(flush[2]), rate: num(flush[3]) } }),
      ...(seq && { seq: { mib: num(seq[1]), seconds: num(seq[2]), mibps: num(seq[3]) } }),
    },
    guestIoErrors: all(text, /TL-IO-ERROR op=(\w+) rec=(-?\d+) errno=(\d+)/).map((m) => ({
      op: m[1] ?? '',
      rec: num(m[2]),
      errno: num(m[3]),
    })),
    kernelIoErrors,
    ioErrors: [...guestIoLines, ...kernelIoErrors],
    errors: lines.filter((l) => l.includes('TL-ERROR')),
    poweredOff: text.includes('TL-POWEROFF'),
    panicked: text.includes('Kernel panic'),
  };
}

/** The console log's text, '' while virtlogd has not created it yet. */
export async function readConsole(file: string): Promise<string> {
  try {
    return await readFile(file, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/**
 * Polls `file` until `predicate` holds for its parsed console, and returns that. Fails after
 * `timeoutMs` (or at once on a kernel panic or a TL-ERROR) with the end of the log.
 */
export async function waitForConsole(
  file: string,
  predicate: (console: GuestConsole, text: string) => boolean,
  timeoutMs: number,
  what = 'the expected console output',
): Promise<GuestConsole> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readConsole(file);
    const parsed = parseGuestConsole(text);
    if (predicate(parsed, text)) return parsed;
    const reason =
      parsed.panicked || parsed.errors.length > 0
        ? 'the guest failed'
        : Date.now() >= deadline
          ? `not within ${timeoutMs} ms`
          : undefined;
    if (reason) {
      const tail = text.split(/\r?\n/).slice(-25).join('\n');
      throw new Error(`${file}: waiting for ${what}: ${reason}; console ends with:\n${tail}`);
    }
    await sleep(250);
  }
}
