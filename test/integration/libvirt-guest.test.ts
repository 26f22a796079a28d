import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { run } from '../helpers/guest/guest-exec';
import {
  diskCacheFor,
  guestDomainXml,
  libvirtAvailable,
  virsh,
  type GuestDiskCache,
} from '../helpers/guest/guest-domain';
import { createGuestDisk, ensureGuestBuild, type GuestConfig } from '../helpers/guest/guest-image';
import { readGuestRecords } from '../helpers/guest/guest-records';
import { readConsole, waitForConsole } from '../helpers/guest/guest-console';

/**
 * The real-libvirt test guest itself (test/helpers/guest): it boots from its disk under QEMU
 * (TCG) through SeaBIOS and syslinux, writes flushed records in order, resumes after a reboot,
 * verifies a copy of its disk booted as another domain, and powers off on `virsh shutdown`.
 * Skipped when libvirtd does not answer at qemu:///system.
 */

const skip = (await libvirtAvailable())
  ? false
  : 'libvirtd does not answer at qemu:///system (virsh version failed): start virtlogd -d and libvirtd -d';

/** Under TCG on a shared 2-core machine a boot takes seconds to tens of seconds. */
const BOOT_TIMEOUT_MS = 180_000;

interface Guest {
  readonly name: string;
  readonly uuid: string;
  readonly disk: string;
  readonly log: string;
  /** When `virsh start` returned. */
  readonly startedAt: number;
}

let work: string;
let cache: GuestDiskCache;
const domains: string[] = [];

async function startGuest(label: string, disk: string): Promise<Guest> {
  const name = `tl-guest-test-${randomBytes(4).toString('hex')}-${label}`;
  const uuid = randomUUID();
  const log = join(work, `${name}.console.log`);
  const xml = join(work, `${name}.xml`);
  await writeFile(xml, guestDomainXml({ name, uuid, diskPath: disk, consoleLog: log, cache }));
  // Listed before define: a define that times out on our side may still complete in libvirtd.
  domains.push(name);
  await virsh(['define', xml]);
  await virsh(['start', name]);
  return { name, uuid, disk, log, startedAt: Date.now() };
}

async function newDisk(label: string, config: GuestConfig): Promise<string> {
  const disk = join(work, `${label}.img`);
  await createGuestDisk(disk, config);
  return disk;
}

async function domstate(name: string): Promise<string> {
  return (await virsh(['domstate', name])).trim();
}

async function removeDomain(name: string): Promise<void> {
  if ((await domstate(name).catch(() => 'gone')) === 'gone') return;
  await virsh(['destroy', name]).catch(() => undefined); // already shut off is fine
  await virsh(['undefine', name]);
}

// Skipped test by test (not the suite) so that the runner counts them as skipped.
describe('libvirt test guest', { timeout: 900_000 }, () => {
  let first: Guest | undefined;

  before(async () => {
    if (skip) return;
    const t0 = Date.now();
    const build = await ensureGuestBuild((line) => console.log(line));
    console.log(`guest build ${build.hash} ready in ${Date.now() - t0} ms (${build.dir})`);
    work = await mkdtemp(join(tmpdir(), 'tl-guest-test-'));
    // libvirt-qemu must traverse the directory to open the disks (mkdtemp makes it 0700).
    await chmod(work, 0o755);
    cache = await diskCacheFor(work);
    if (cache !== 'none') console.log(`${work} has no O_DIRECT (tmpfs?): disks use cache=${cache}`);
  });

  after(async () => {
    const errors: unknown[] = [];
    for (const name of domains) await removeDomain(name).catch((err) => errors.push(err));
    if (work) await rm(work, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, 'cleaning up test domains');
  });

  it('boots from its disk and writes 300 flushed records in order', { skip }, async (t) => {
    const disk = await newDisk('writer', { records: 300, rate: 0 });
    first = await startGuest('writer', disk);
    let wroteAt = 0;
    const report = await waitForConsole(
      first.log,
      (c) => {
        if (wroteAt === 0 && c.writerResumes.length > 0) wroteAt = Date.now();
        return c.done !== undefined;
      },
      BOOT_TIMEOUT_MS,
      'TL-DONE',
    );
    assert.equal(report.done, 300);
    assert.deepEqual(report.boots, [{ uuid: first.uuid, boot: 1 }]);
    assert.deepEqual(report.writerResumes, [0]);
    assert.deepEqual(report.ioErrors, []);
    t.diagnostic(`virsh start to TL-WRITER: ${((wroteAt - first.startedAt) / 1000).toFixed(1)} s`);
    const seconds = report.doneSeconds ?? NaN;
    t.diagnostic(`300 records in ${seconds} s: ${(300 / seconds).toFixed(0)} records/s`);

    const records = await readGuestRecords(first.disk);
    assert.equal(records.owner, first.uuid);
    assert.equal(records.records, 300);
    assert.equal(records.gapFree, true);
    assert.equal(records.boots, 1);
  });

  it('a copy of the disk booted as another domain verifies the records', { skip }, async () => {
    assert.ok(first, 'needs the writer guest of the first test');
    const copy = join(work, 'recovered.img');
    await run('cp', ['--sparse=always', first.disk, copy]);
    const recovered = await startGuest('recovered', copy);
    const report = await waitForConsole(
      recovered.log,
      (c) => c.verify !== undefined,
      BOOT_TIMEOUT_MS,
      'TL-VERIFY',
    );
    assert.deepEqual(
      report.boots.map((b) => b.uuid),
      [recovered.uuid],
    );
    assert.deepEqual(report.verify, { records: 300, gapFree: true, owner: first.uuid });
    assert.deepEqual(report.writerResumes, [], 'a recovered copy never writes');
    // The verifier left the copy as it was: still the writer's records and owner.
    const records = await readGuestRecords(copy);
    assert.equal(records.owner, first.uuid);
    assert.equal(records.records, 300);
  });

  it(
    'reboot_at: reboots once mid-run and resumes where the flushed records end',
    { skip },
    async () => {
      const disk = await newDisk('reboot', { records: 200, rate: 0, rebootAt: 100 });
      const guest = await startGuest('reboot', disk);
      const report = await waitForConsole(
        guest.log,
        (c) => c.done !== undefined,
        2 * BOOT_TIMEOUT_MS,
        'TL-DONE after the reboot',
      );
      assert.deepEqual(
        report.boots,
        [1, 2].map((boot) => ({ uuid: guest.uuid, boot })),
      );
      assert.deepEqual(report.reboots, [100]);
      assert.equal(report.writerResumes.length, 2);
      assert.equal(report.writerResumes[0], 0);
      assert.ok((report.writerResumes[1] ?? 0) >= 100, `resume ${report.writerResumes[1]}`);
      assert.equal(report.done, 200);
      assert.deepEqual(report.ioErrors, []);

      const records = await readGuestRecords(disk);
      assert.equal(records.owner, guest.uuid);
      assert.equal(records.records, 200);
      assert.equal(records.gapFree, true);
      assert.equal(records.boots, 2);
    },
  );

  it('virsh shutdown powers the guest off (ACPI power button)', { skip }, async (t) => {
    assert.ok(first, 'needs the writer guest of the first test');
    const t0 = Date.now();
    await virsh(['shutdown', first.name]);
    while ((await domstate(first.name)) !== 'shut off') {
      assert.ok(Date.now() - t0 < 20_000, `${first.name} still ${await domstate(first.name)}`);
      await sleep(250);
    }
    t.diagnostic(`virsh shutdown to shut off: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.ok((await readConsole(first.log)).includes('TL-POWEROFF'));
  });
});
