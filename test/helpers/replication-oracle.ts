/**
 * The replication oracle: the image of every disk at checkpoint C exported at the recovery
 * site equals, byte for byte, the source disk as it was at C.
 *
 * "As it was at C" is known by taking C with the workloads paused: pause, wait for any resync
 * the last writes caused (an overflowed outbox) to end, insert a named checkpoint, wait until the recovery site has it (so every write before C is on the source
 * disk: the sender only sends records whose disk write completed), hash the source disk
 * files, resume. The exports are made at the end, from the stopped recovery agent.
 *
 *   const oracle = new Oracle(hq, dr, vpg.vpgId, vms);
 *   await oracle.setWorkloads(false, 1 << 20);
 *   await oracle.checkpoint('c1');            // … many times, with crashes in between
 *   await oracle.verify();                    // stops both agents, exports, compares
 */
import assert from 'node:assert/strict';
import type { CheckpointInfo, Vm } from '../../app/protocol';
import {
  MiB,
  exportDisk,
  exportImagesInProcess,
  insertCheckpoint,
  setWorkload,
  sha256File,
  stopSite,
  untilVpg,
  waitForCheckpoint,
  type Site,
} from './replication-sites';

export interface OracleCheckpoint {
  readonly checkpoint: CheckpointInfo;
  /** sha256 of every source disk file (by diskId) while paused at the checkpoint. */
  readonly hashes: ReadonlyMap<string, string>;
}

export class Oracle {
  readonly vmIds: readonly string[];
  /** diskId → its file at the protected site. */
  readonly diskFiles = new Map<string, string>();
  readonly checkpoints: OracleCheckpoint[] = [];
  /** Longest pause of the workloads for a checkpoint, in ms. */
  longestPauseMs = 0;
  private rate = MiB;

  constructor(
    private readonly source: Site,
    private readonly target: Site,
    private readonly vpgId: string,
    vms: readonly Vm[],
  ) {
    this.vmIds = vms.map((v) => v.vmId);
    for (const vm of vms) for (const d of vm.disks) this.diskFiles.set(d.diskId, d.location);
  }

  /** Pauses or resumes every VM's workload, at `rate` bytes/s each (default: the last one). */
  async setWorkloads(paused: boolean, rate = this.rate): Promise<void> {
    this.rate = rate;
    for (const vmId of this.vmIds) await setWorkload(this.source, vmId, rate, { paused });
  }

  /** Pause, checkpoint, wait for it at the recovery site, hash the source disks, resume. */
  async checkpoint(name: string, options: { resume?: boolean } = {}): Promise<CheckpointInfo> {
    const started = Date.now();
    await this.setWorkloads(true);
    // The last writes before the pause may have overflowed the outbox (a small one, on a busy
    // host): that resync must end first. Paused, no new one can start.
    await untilVpg(
      this.source,
      this.vpgId,
      (s) => s.status !== 'Resyncing' && s.status !== 'Seeding',
      `checkpoint "${name}": no resync under way`,
      60_000,
    );
    const inserted = await insertCheckpoint(this.source, this.vpgId, name);
    assert.equal(inserted.confirmed, false);
    const confirmed = await waitForCheckpoint(this.source, inserted);
    assert.equal(confirmed.confirmed, true);
    assert.equal(confirmed.name, name);
    assert.notEqual(confirmed.inconsistent, true, `checkpoint "${name}" is consistent`);
    const hashes = new Map<string, string>();
    for (const [diskId, file] of this.diskFiles) hashes.set(diskId, await sha256File(file));
    this.checkpoints.push({ checkpoint: confirmed, hashes });
    if (options.resume !== false) await this.setWorkloads(false);
    this.longestPauseMs = Math.max(this.longestPauseMs, Date.now() - started);
    return confirmed;
  }

  /**
   * Stops both agents (the source cleanly: its disks must still equal the last checkpoint)
   * and compares every disk at every checkpoint with its export at the recovery site: the
   * last checkpoint through `tideline-agent export-disk`, the others in this process.
   */
  async verify(): Promise<void> {
    const last = this.checkpoints.at(-1);
    assert.ok(last, 'at least one checkpoint');
    await stopSite(this.source);
    for (const [diskId, file] of this.diskFiles) {
      assert.equal(await sha256File(file), last.hashes.get(diskId), `${diskId} unchanged since`);
    }
    await stopSite(this.target);
    const dataDir = this.target.creds.dataDir;
    for (const diskId of this.diskFiles.keys()) {
      const image = await exportDisk(dataDir, this.vpgId, diskId, last.checkpoint.seq);
      assert.equal(image.sha256, last.hashes.get(diskId), `${diskId} at the last checkpoint`);
    }
    const wanted = this.checkpoints
      .slice(0, -1)
      .flatMap(({ checkpoint }) =>
        [...this.diskFiles.keys()].map((diskId) => ({ diskId, seq: checkpoint.seq })),
      );
    const images = await exportImagesInProcess(dataDir, this.vpgId, wanted);
    for (const { checkpoint, hashes } of this.checkpoints.slice(0, -1)) {
      for (const diskId of this.diskFiles.keys()) {
        assert.equal(
          images.get(`${diskId}@${checkpoint.seq}`),
          hashes.get(diskId),
          `disk ${diskId} at checkpoint ${checkpoint.seq} "${checkpoint.name ?? ''}"`,
        );
      }
    }
  }
}
