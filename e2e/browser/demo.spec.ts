import { readFile } from 'node:fs/promises';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';
import { ProtectionPage } from '../pages/protection-page';

interface LabSite {
  readonly name: string;
  readonly location: string;
  readonly contact: string;
}

test('the demo lab shows both sites connected with their hosts and VMs, protected with live RPO', async ({
  page,
  lab,
}, testInfo) => {
  const labFile = JSON.parse(await readFile(repoPath('resources/demo-lab.json'), 'utf8')) as {
    sites: LabSite[];
    vpgs: { name: string }[];
  };
  const demo = await lab.startDemo();
  const estate = new EstatePage(page);
  await estate.open(demo.url);

  expect(labFile.sites.map((s) => s.name)).toEqual(['Headquarters', 'Recovery DC']);
  for (const site of labFile.sites) {
    const section = estate.site(site.name);
    await expect(section).toBeVisible();
    await expect(section).toContainText(site.location);
    await expect(section.getByRole('status')).toHaveText(['Connected']);
    await expect(estate.hostTable(site.name).getByRole('rowheader')).not.toHaveCount(0);
    await expect(estate.vmRows(site.name).first()).toBeVisible();
  }

  const path = repoPath('artifacts/e2e/estate.png');
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach('estate', { path, contentType: 'image/png' });

  // Out of the box the sites are paired and VMs protected: live RPO the moment it opens.
  const protection = new ProtectionPage(page);
  await protection.open();
  for (const { name } of labFile.vpgs) {
    await expect(protection.row(name)).toContainText('Protecting');
    await expect
      .poll(() => protection.rpoSeconds(name), { timeout: 30_000 })
      .toBeLessThanOrEqual(30);
  }
  const shot = repoPath('artifacts/e2e/demo-protection.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('demo protection', { path: shot, contentType: 'image/png' });
});
