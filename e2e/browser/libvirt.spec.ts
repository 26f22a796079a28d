import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSparseFile } from '../../agent/hypervisor/sim/provision';
import { guestDomainXml, virsh } from '../../test/helpers/guest/guest-domain';
import { openLab, virshSkipReason } from '../../test/helpers/libvirt-lab';
import { pairSites, writeSeed } from '../fixtures/agent-sites';
import { expect, test } from '../fixtures/lab';
import { repoPath } from '../fixtures/paths';
import { EstatePage } from '../pages/estate-page';
import { ProtectionPage } from '../pages/protection-page';

const skip = await virshSkipReason();

test('libvirt hosts and domains in the estate; a VM with a qcow2 disk is greyed in the VPG wizard with the reason', async ({
  page,
  lab,
}, testInfo) => {
  test.skip(skip !== undefined, skip ?? '');
  test.setTimeout(120_000);
  const libvirt = await openLab('tle');
  try {
    // Two domains of the protected site (defined, not started): one raw, one qcow2.
    for (const [name, format] of [
      ['web-01', 'raw'],
      ['db-01', 'qcow2'],
    ] as const) {
      const disk = join(libvirt.dir, `${name}.img`);
      await createSparseFile(disk, 64 * 1024 * 1024);
      const xml = join(libvirt.dir, `${name}.xml`);
      await writeFile(
        xml,
        guestDomainXml({
          name: `${libvirt.prefix}hq-${name}`,
          diskPath: disk,
          consoleLog: join(libvirt.dir, `${name}.log`),
          format,
        }),
      );
      await virsh(['define', xml]);
    }
    const agent = (site: string, prefix: string) =>
      lab.startAgent(site, {
        initArgs: ['--hypervisor', 'libvirt', '--libvirt-prefix', `${libvirt.prefix}${prefix}`],
      });
    const hq = await agent('Headquarters', 'hq-');
    const dr = await agent('Recovery DC', 'dr-');
    await pairSites(hq, dr);
    const server = await lab.startConsole({
      seedFile: await writeSeed(await lab.tempDir('seed'), [hq, dr]),
    });

    const estate = new EstatePage(page);
    await estate.open(server.url);
    const hosts = page.getByRole('table', { name: 'Hosts at Headquarters' });
    await expect(hosts).toContainText('libvirt / KVM');
    await expect(hosts).toContainText('QEMU');
    const vms = page.getByRole('table', { name: 'Virtual machines at Headquarters' });
    await expect(vms).toContainText(`${libvirt.prefix}hq-web-01`);
    await expect(vms).toContainText(`${libvirt.prefix}hq-db-01`);
    await expect(vms.getByText('Cannot be protected')).toHaveCount(1);
    const estateShot = repoPath('artifacts/e2e/libvirt-estate.png');
    await page.screenshot({ path: estateShot, fullPage: true, animations: 'disabled' });
    await testInfo.attach('libvirt estate', { path: estateShot, contentType: 'image/png' });

    const protection = new ProtectionPage(page);
    await protection.open();
    const wizard = await protection.openWizard();
    await wizard.name.fill('Web');
    expect(await wizard.freeVmNames()).toEqual([`${libvirt.prefix}hq-web-01`]);
    const db = wizard.vms.getByRole('row', { name: new RegExp(`${libvirt.prefix}hq-db-01`) });
    await expect(db).toContainText('is a qcow2 image');
    await expect(db).toContainText('qemu-img convert -O raw');
    await expect(db.getByRole('checkbox')).toBeDisabled();
    const wizardShot = repoPath('artifacts/e2e/libvirt-wizard.png');
    await page.screenshot({ path: wizardShot, animations: 'disabled' });
    await testInfo.attach('libvirt VPG wizard', { path: wizardShot, contentType: 'image/png' });
  } finally {
    await libvirt.close();
  }
});
