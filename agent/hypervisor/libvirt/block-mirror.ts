import { TidelineError } from '../../../app/errors';
import type { Logger } from '../../log';
import type { MirrorState, MirrorTarget, TapMirroring } from '../adapter';
import { nbdCopyTargetXml, parseDomainXml, type DomainDisk, type DomainInfo } from './domain-xml';
import type { VirshSession } from './virsh-session';
import { sleep } from '../../util/sleep';

export interface BlockMirrorDeps {
  readonly session: VirshSession;
  readonly log: Logger;
  /** Which domain and guest device a disk id is (from the inventory). */
  readonly locate: (vmId: string, diskId: string) => Promise<{ uuid: string; target: string }>;
  /** Runs `fn` with a temp file holding `content` (virsh reads XML from files). */
  readonly withTempFile: <T>(content: string, fn: (path: string) => Promise<T>) => Promise<T>;
  readonly socketGroup: string;
  readonly onVmEvent: (listener: (vmId: string) => void) => () => void;
}

/** How often an attach looks at the copy's progress. */
const POLL_MS = 250;
/** A stale mirror being cancelled must be gone by then. */
const CANCEL_WAIT_MS = 15_000;

/**
 * The tap attached to a running domain without a reboot: QEMU's active block copy
 * (`virsh blockcopy --synchronous-writes --transient-job`) of the disk into the agent's NBD
 * export, never pivoted. Write-blocking copy mode completes a guest write only once the export
 * has it, so the agent sees every write in order; the domain keeps its own image, so an agent
 * crash only ends the job (the guest's I/O never fails because of it). See README.md.
 */
export class BlockMirror implements TapMirroring {
  readonly socketGroup: string;

  constructor(private readonly deps: BlockMirrorDeps) {
    this.socketGroup = deps.socketGroup;
  }

  onVmEvent(listener: (vmId: string) => void): () => void {
    return this.deps.onVmEvent(listener);
  }

  async state(vmId: string, diskId: string, target: MirrorTarget): Promise<MirrorState> {
    const { domain, disk } = await this.fresh(vmId, diskId);
    if (!domain.active) return 'off';
    const mirror = disk.mirror;
    if (mirror === undefined || !isOurs(disk, target)) return 'none';
    return mirror.ready === 'yes' ? 'ready' : 'copying';
  }

  async attach(
    vmId: string,
    diskId: string,
    target: MirrorTarget,
    options: {
      readonly signal?: AbortSignal;
      readonly onProgress?: (done: number, total: number) => void;
    } = {},
  ): Promise<void> {
    const { signal, onProgress } = options;
    let { domain, disk } = await this.fresh(vmId, diskId);
    const what = `disk ${disk.target} of VM "${domain.name}"`;
    if (!domain.active) {
      throw new TidelineError(
        'CONFLICT',
        `VM "${domain.name}" is not running: protection attaches to its disks when it starts`,
        { vmId },
      );
    }
    if (disk.mirror !== undefined) {
      if (!isOurs(disk, target)) {
        throw new TidelineError(
          'CONFLICT',
          `The ${what} has a block job of its own (${disk.mirror.job ?? 'copy'}): let it finish or end it (virsh blockjob ${domain.uuid} ${disk.target} --abort), protection attaches afterwards`,
          { vmId },
        );
      }
      // Left by an earlier agent process: its NBD connection is dead, so start afresh.
      this.deps.log.info({ vmId, disk: disk.target }, 'ending a mirror left by an earlier run');
      await this.abort(domain, disk);
      ({ domain, disk } = await this.waitGone(vmId, diskId));
    }
    await this.deps.withTempFile(nbdCopyTargetXml(target.socketPath, target.exportName), (xml) =>
      this.deps.session
        .run([
          'blockcopy',
          domain.uuid,
          disk.target,
          '--xml',
          xml,
          '--reuse-external',
          '--transient-job',
          '--synchronous-writes',
        ])
        .catch((err: unknown) => {
          throw explainCopyFailure(err, target);
        }),
    );
    this.deps.log.info({ vmId, disk: disk.target }, 'block copy into the tap started');
    for (;;) {
      if (signal?.aborted === true) {
        await this.abort(domain, disk).catch(() => undefined);
        throw new TidelineError('UNAVAILABLE', `Attaching to the ${what} was cancelled`);
      }
      const now = await this.fresh(vmId, diskId);
      if (!now.domain.active) {
        throw new TidelineError(
          'CONFLICT',
          `VM "${domain.name}" stopped while protection attached to it`,
        );
      }
      const mirror = now.disk.mirror;
      if (mirror === undefined || !isOurs(now.disk, target)) {
        throw new TidelineError(
          'UNAVAILABLE',
          `The block copy of the ${what} ended before it was in sync (see /var/log/libvirt/qemu/${domain.name}.log)`,
          { vmId },
        );
      }
      if (mirror.ready === 'yes') return;
      const progress = await this.progress(domain, disk);
      if (progress !== undefined) onProgress?.(progress.cur, progress.end);
      await sleep(POLL_MS, signal);
    }
  }

  async detach(vmId: string, diskId: string): Promise<void> {
    let found: { domain: DomainInfo; disk: DomainDisk };
    try {
      found = await this.fresh(vmId, diskId);
    } catch (err) {
      if (err instanceof TidelineError && err.code === 'NOT_FOUND') return;
      throw err;
    }
    if (!found.domain.active || found.disk.mirror === undefined) return;
    await this.abort(found.domain, found.disk);
  }

  /** Cancels the job without a pivot: QEMU keeps the domain on its own image. */
  private async abort(domain: DomainInfo, disk: DomainDisk): Promise<void> {
    try {
      await this.deps.session.run(['blockjob', domain.uuid, disk.target, '--abort']);
    } catch (err) {
      // Gone already (the domain stopped, or the job failed on its own).
      if (err instanceof TidelineError && /no active block job|not running/i.test(err.message)) {
        return;
      }
      throw err;
    }
  }

  private async waitGone(
    vmId: string,
    diskId: string,
  ): Promise<{ domain: DomainInfo; disk: DomainDisk }> {
    const deadline = Date.now() + CANCEL_WAIT_MS;
    for (;;) {
      const now = await this.fresh(vmId, diskId);
      if (now.disk.mirror === undefined) return now;
      if (Date.now() > deadline) {
        throw new TidelineError(
          'TIMEOUT',
          `The old mirror of disk ${now.disk.target} of VM "${now.domain.name}" did not end`,
        );
      }
      await sleep(100);
    }
  }

  private async progress(
    domain: DomainInfo,
    disk: DomainDisk,
  ): Promise<{ cur: number; end: number } | undefined> {
    try {
      const raw = await this.deps.session.run([
        'blockjob',
        domain.uuid,
        disk.target,
        '--raw',
        '--bytes',
      ]);
      const value = (key: string): number | undefined => {
        const line = raw.split('\n').find((l) => l.trim().startsWith(`${key}=`));
        const n = Number(line?.trim().slice(key.length + 1));
        return Number.isFinite(n) ? n : undefined;
      };
      const cur = value('cur');
      const end = value('end');
      return cur === undefined || end === undefined ? undefined : { cur, end };
    } catch {
      return undefined; // progress is decoration
    }
  }

  private async fresh(
    vmId: string,
    diskId: string,
  ): Promise<{ domain: DomainInfo; disk: DomainDisk }> {
    const { uuid, target } = await this.deps.locate(vmId, diskId);
    const domain = parseDomainXml(await this.deps.session.run(['dumpxml', uuid]));
    const disk = domain.disks.find((d) => d.target === target);
    if (disk === undefined) {
      throw new TidelineError('NOT_FOUND', `VM "${domain.name}" has no disk ${target} any more`, {
        vmId,
        diskId,
      });
    }
    return { domain, disk };
  }
}

function isOurs(disk: DomainDisk, target: MirrorTarget): boolean {
  return disk.mirror?.socket === target.socketPath && disk.mirror.exportName === target.exportName;
}

/** QEMU cannot reach the socket: say what the admin must change. */
function explainCopyFailure(err: unknown, target: MirrorTarget): unknown {
  if (err instanceof TidelineError && /permission denied/i.test(err.message)) {
    return new TidelineError(
      'UNAUTHORIZED',
      `${err.message}. QEMU must be able to open the agent's NBD socket ${target.socketPath}: every directory above it must be searchable by QEMU's user or group (see agent/hypervisor/libvirt/README.md)`,
      err.data,
    );
  }
  return err;
}
