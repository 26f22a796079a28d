#!/usr/bin/env node
// What protection costs a real guest: the test guest (test/helpers/guest; QEMU under TCG on
// this machine's libvirtd) writes 4 KiB + fdatasync in a loop for --seconds (flushed writes/s),
// then --mib MiB of 1 MiB O_DIRECT sequential writes and one fdatasync (MiB/s), in three
// setups, one after the other in one run:
//   plain     its own raw file, no Tideline: the anchor
//   mirrored  the same domain protected by a libvirt agent: QEMU's active mirror into the
//             agent's export, replicated to a second agent (the attachment Tideline uses)
//   nbd       the disk served by the agent itself over NBD (a sim agent's export of the same
//             image, protected and replicated): the data path of the alternatives that put
//             the agent under the guest (live storage migration, or an NBD disk in the XML)
// Each figure is printed with its ratio to plain. The guest starts its benchmark --delay
// seconds after boot; the mirrored and nbd setups are Protecting before that (checked).
// Usage: npm run build && npm run bench:guest [-- --seconds 10 --mib 128 --rounds 1]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAverage } from './lib/sites.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    mib: { type: 'string', default: '128' },
    delay: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '1' },
  },
});
const MiB = 1024 * 1024;
const DISK_BYTES = 256 * MiB;
const config = {
  mode: 'bench',
  delay: Number(values.delay),
  seconds: Number(values.seconds),
  mib: Number(values.mib),
};

const lab = await import('../test/helpers/libvirt-lab.ts');
const guestImage = await import('../test/helpers/guest/guest-image.ts');
const guestConsole = await import('../test/helpers/guest/guest-console.ts');
const guestDomain = await import('../test/helpers/guest/guest-domain.ts');
const sites = await import('../test/helpers/replication-sites.ts');
const agents = await import('../test/helpers/agents.ts');
const { buildDomainXml } = await import('../agent/hypervisor/libvirt/domain-xml.ts');
const { grantSocketAccess } = await import('../agent/util/group-access.ts');
const { exportUri } = await import('../agent/nbd/exports.ts');

const skip = await lab.virshSkipReason();
if (skip !== undefined) {
  console.error(`bench:guest needs libvirt: ${skip}`);
  process.exit(2);
}
await guestImage.ensureGuestBuild();
const started = Date.now();
const quiet = { info() {}, warn() {}, debug() {}, error() {}, child: () => quiet };

/** Boots the guest on `disk` (a file, or an NBD URI), waits for its figures. */
async function runGuest(theLab, name, location, beforeBench) {
  const consoleLog = join(theLab.dir, `${name}.console.log`);
  let domain;
  if (location.startsWith('nbd+unix://')) {
    const uuid = randomUUID();
    const xml = join(theLab.dir, `${name}.xml`);
    await writeFile(
      xml,
      buildDomainXml({
        uuid,
        name,
        domainType: 'qemu',
        vcpus: 1,
        memoryMiB: 256,
        arch: 'x86_64',
        machine: 'pc',
        firmware: 'bios',
        bootDevices: ['hd'],
        disks: [{ diskId: 'bench', target: 'vda', bus: 'virtio', location }],
        nics: [],
        consoleLog,
        metadata: { diskIds: new Map() },
      }),
    );
    await guestDomain.virsh(['define', xml]);
    await guestDomain.virsh(['start', name]);
    domain = { name, uuid, console: consoleLog };
  } else {
    domain = await lab.startGuest(theLab, name, location);
  }
  if (beforeBench !== undefined) {
    await beforeBench(domain);
    if ((await guestConsole.readConsole(domain.console)).includes('TL-BENCH-START')) {
      throw new Error(`${name}: the guest began measuring before protection was ready (--delay)`);
    }
  }
  const seen = await guestConsole.waitForConsole(
    domain.console,
    (c) => c.bench.seq !== undefined,
    (config.delay + config.seconds + 300) * 1000,
    'the benchmark figures',
  );
  if (seen.ioErrors.length > 0) throw new Error(`${name}: I/O errors: ${seen.ioErrors.join('; ')}`);
  await guestDomain.virsh(['destroy', name]).catch(() => undefined);
  return { flush: seen.bench.flush.rate, seq: seen.bench.seq.mibps };
}

async function plain(round) {
  const theLab = await lab.openLab('tlb');
  try {
    const disk = join(theLab.dir, 'plain.img');
    await guestImage.createGuestDisk(disk, { ...config, delay: 2 }, DISK_BYTES);
    return await runGuest(theLab, `${theLab.prefix}plain-${round}`, disk);
  } finally {
    await theLab.close();
  }
}

async function mirrored(round) {
  const theLab = await lab.openLab('tlb');
  try {
    const [hq, dr] = [
      await theLab.launchSite('Bench HQ', 'hq-'),
      await theLab.launchSite('Bench DR', 'dr-'),
    ];
    await sites.pairSites(hq, dr);
    const disk = join(theLab.dir, 'mirrored.img');
    await guestImage.createGuestDisk(disk, config, DISK_BYTES);
    return await runGuest(theLab, `${theLab.prefix}hq-mirrored-${round}`, disk, async (guest) => {
      let vm;
      while (vm === undefined) {
        vm = (await sites.vms(hq)).find((v) => v.vmId === guest.uuid);
        if (vm === undefined) await new Promise((r) => setTimeout(r, 200));
      }
      const vpg = await sites.createVpg(hq, dr, {
        name: 'bench mirrored',
        vmIds: [vm.vmId],
        recoveryDatastore: theLab.pool,
        rpoTargetSeconds: 300,
      });
      await sites.untilVpg(hq, vpg.vpgId, sites.isStatus('Protecting'), 'protecting', 300_000);
    });
  } finally {
    await agents.cleanupAgents();
    await theLab.close();
  }
}

async function nbd(round) {
  const theLab = await lab.openLab('tlb');
  try {
    const diskMiB = DISK_BYTES / MiB;
    const hq = await sites.launchSite('Bench HQ', {
      diskMiB,
      dataDir: join(theLab.dir, 'hq-sim'),
    });
    const dr = await sites.launchSite('Bench DR', { diskMiB });
    await sites.pairSites(hq, dr);
    const [vm] = sites.pickVms(await sites.vms(hq), 1, 1);
    const disk = vm.disks[0];
    // The sim disk becomes the guest's image (the agent owns the file: every I/O goes through it).
    const image = join(theLab.dir, 'nbd.img');
    await guestImage.createGuestDisk(image, config, DISK_BYTES);
    await copyFile(image, disk.location);
    const vpg = await sites.createVpg(hq, dr, { vmIds: [vm.vmId], rpoTargetSeconds: 300 });
    await sites.untilVpg(hq, vpg.vpgId, sites.isStatus('Protecting'), 'protecting', 300_000);
    const socket = join(hq.creds.dataDir, 'nbd.sock');
    await grantSocketAccess(socket, 'libvirt-qemu', quiet);
    return await runGuest(theLab, `${theLab.prefix}nbd-${round}`, exportUri(disk.diskId, socket));
  } finally {
    await agents.cleanupAgents();
    await theLab.close();
  }
}

const setups = { plain, mirrored, nbd };
const results = {};
for (let round = 0; round < Number(values.rounds); round += 1) {
  for (const [name, run] of Object.entries(setups)) {
    const figures = await run(round);
    const best = results[name];
    results[name] = {
      flush: Math.max(best?.flush ?? 0, figures.flush),
      seq: Math.max(best?.seq ?? 0, figures.seq),
    };
    console.log(
      `${name} round ${round + 1}: ${figures.flush.toFixed(0)} flushed writes/s, ${figures.seq.toFixed(1)} MiB/s`,
    );
  }
}
const anchor = results.plain;
console.log(
  `\nGuest on libvirt (QEMU TCG), 4 KiB write+fdatasync for ${config.seconds} s, ${config.mib} MiB sequential; best of ${values.rounds}`,
);
console.log('setup      flushed writes/s   ratio   sequential MiB/s   ratio');
for (const [name, r] of Object.entries(results)) {
  console.log(
    `${name.padEnd(10)} ${r.flush.toFixed(0).padStart(16)}   ${(r.flush / anchor.flush).toFixed(2).padStart(5)}   ${r.seq.toFixed(1).padStart(16)}   ${(r.seq / anchor.seq).toFixed(2).padStart(5)}`,
  );
}
console.log(`load average ${loadAverage()}; ${Math.round((Date.now() - started) / 1000)} s`);
