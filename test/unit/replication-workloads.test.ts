import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Workloads, type WorkloadVm } from '../../agent/replication/workloads';
import type { Tap } from '../../agent/tap/tap';

const MiB = 1024 * 1024;
const log = pino({ level: process.env['TIDELINE_TEST_LOG'] ?? 'silent' });

/** A tap that only counts what it is asked to write. */
function countingTap(): Tap & { writes: number } {
  const fail = (): never => {
    throw new Error('not used');
  };
  const tap = {
    writes: 0,
    write: async () => {
      tap.writes += 1;
    },
    zero: fail,
    trim: fail,
    flush: async () => undefined,
    read: fail,
    diskSize: () => 64 * MiB,
  };
  return tap;
}

const disks = (vmId: string) => [{ diskId: `${vmId}-disk0`, sizeBytes: 64 * MiB }];

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached`);
    await sleep(20);
  }
}

describe('pausing a workload', () => {
  it('answers with the bytes of every write it made, those in flight at the pause included', async (t) => {
    // A tap whose writes land only when the test lets them: the pause finds some in flight.
    let landed = 0;
    let issued = 0;
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const tap = {
      ...countingTap(),
      write: async (_diskId: string, _offset: number, data: Buffer) => {
        issued += 1;
        await gate;
        landed += data.length;
      },
    };
    const workloads = new Workloads(tap, 'sim');
    workloads.start();
    t.after(() => workloads.stop());
    await workloads.set({ vmId: 'db', bytesPerSecond: 8 * MiB }, 'db', disks('db'));
    await until('writes in flight', () => issued > 0);
    const answer = workloads.set(
      { vmId: 'db', bytesPerSecond: 8 * MiB, paused: true },
      'db',
      disks('db'),
    );
    const inFlight = issued;
    await sleep(50);
    open();
    const paused = await answer;
    assert.equal(paused.paused, true);
    assert.ok(landed > 0 && paused.writes === inFlight, `${paused.writes} of ${inFlight} writes`);
    assert.equal(paused.bytes, landed, 'the answer counts every byte that reached the tap');
    await sleep(100);
    assert.equal(issued, inFlight, 'nothing is issued after the answer');
  });
});

describe('workloads across a restart', () => {
  it('are saved on every change and restarted; a VM gone or unprotected is dropped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tideline-workloads-'));
    dirs.push(dir);
    const file = join(dir, 'workloads.json');

    const first = new Workloads(countingTap(), 'sim', { file, log });
    first.start();
    const web = await first.set(
      { vmId: 'web', bytesPerSecond: 2 * MiB, mix: { '4096': 1, '65536': 3 }, locality: 0.9 },
      'web',
      disks('web'),
    );
    await first.set({ vmId: 'db', bytesPerSecond: MiB, paused: true }, 'db', disks('db'));
    await first.set({ vmId: 'gone', bytesPerSecond: MiB }, 'gone', disks('gone'));
    await first.set({ vmId: 'left', bytesPerSecond: MiB }, 'left', disks('left'));
    await first.set({ vmId: 'tmp', bytesPerSecond: MiB }, 'tmp', disks('tmp'));
    await first.remove('tmp'); // its VPG went away
    await first.stop();
    const saved = JSON.parse(await readFile(file, 'utf8')) as { workloads: { vmId: string }[] };
    assert.deepEqual(
      saved.workloads.map((w) => w.vmId),
      ['web', 'db', 'gone', 'left'],
    );

    // The agent starts again: "gone" was deleted, "left" is no longer protected.
    const tap = countingTap();
    const second = new Workloads(tap, 'sim', { file, log });
    second.start();
    const vms: Record<string, WorkloadVm> = {
      web: { name: 'web', disks: disks('web') },
      db: { name: 'db', disks: disks('db') },
      left: { name: 'left', disks: undefined },
    };
    await second.restore(async (vmId) => vms[vmId]);
    const restored = second.status('web');
    assert.deepEqual(
      [restored.bytesPerSecond, restored.mix, restored.locality, restored.paused],
      [web.bytesPerSecond, web.mix, 0.9, false],
    );
    assert.equal(second.status('db').paused, true);
    assert.equal(second.status('gone').bytesPerSecond, 0);
    assert.equal(second.status('left').bytesPerSecond, 0);
    await until('the restored workload writes', () => second.status('web').writes > 10);
    assert.equal(second.status('db').writes, 0, 'a paused workload stays paused');
    assert.ok(tap.writes > 10);
    await second.stop();
    const kept = JSON.parse(await readFile(file, 'utf8')) as { workloads: { vmId: string }[] };
    assert.deepEqual(
      kept.workloads.map((w) => w.vmId),
      ['web', 'db'],
      'the dropped ones are gone from the file',
    );
  });

  it('an unreadable file leaves every VM idle instead of failing the start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tideline-workloads-'));
    dirs.push(dir);
    const file = join(dir, 'workloads.json');
    await writeFile(file, '{"version":1,"workloads":[{"vmId":');
    const workloads = new Workloads(countingTap(), 'sim', { file, log });
    let looked = 0;
    await workloads.restore(async () => {
      looked += 1;
      return undefined;
    });
    assert.equal(looked, 0);
    assert.equal(workloads.status('web').bytesPerSecond, 0);
  });
});
