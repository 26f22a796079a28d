import { readFile } from 'node:fs/promises';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';

interface LabSite {
  readonly name: string;
  readonly location: string;
  readonly contact: string;
}

test('the demo lab shows both sites connected with their hosts and VMs', async ({
  page,
  lab,
}, testInfo) => {
  const labFile = JSON.parse(await readFile(repoPath('resources/demo-lab.json'), 'utf8')) as {
    sites: LabSite[];
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
});
