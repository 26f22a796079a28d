import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';
import { SupportDialog } from '../pages/support-dialog';
import { holdersOf, readTarGz } from '../../test/helpers/support-archive';

test('a support bundle of both agents is saved as one archive with their files, the console log and no token', async ({
  page,
  lab,
}, testInfo) => {
  const demo = await lab.startDemo();
  const tokens = Object.values(
    (
      JSON.parse(await readFile(join(demo.dataDir, 'lab.json'), 'utf8')) as {
        agents: Record<string, { token: string }>;
      }
    ).agents,
  ).map((a) => a.token);
  expect(tokens).toHaveLength(2);
  const estate = new EstatePage(page);
  await estate.open(demo.url);
  await expect(estate.site('Headquarters').getByRole('status')).toHaveText(['Connected']);
  await expect(estate.site('Recovery DC').getByRole('status')).toHaveText(['Connected']);

  const dialog = await SupportDialog.open(page);
  // Every connected agent is chosen by default.
  await expect(dialog.root.getByRole('checkbox', { checked: true })).toHaveCount(5);
  await dialog.root.getByRole('button', { name: 'Last hour' }).click();
  await dialog.collect.click();
  await expect(dialog.progress).toContainText('Ready', { timeout: 60_000 });
  await expect(dialog.progress.getByText('Done')).toHaveCount(2);
  const download = await dialog.download();
  expect(download.suggestedFilename()).toMatch(/^tideline-support-.*\.tar\.gz$/);
  await expect(dialog.saved).toBeVisible();
  const shot = repoPath('artifacts/e2e/support-bundle.png');
  await page.screenshot({ path: shot });
  await testInfo.attach('support bundle', { path: shot, contentType: 'image/png' });

  const files = await readTarGz(await readFile(await download.path()));
  const names = [...files.keys()];
  await testInfo.attach('files', { body: names.join('\n'), contentType: 'text/plain' });
  for (const expected of ['manifest.json', 'problems.json', 'console/console.log']) {
    expect(names).toContain(expected);
  }
  for (const site of ['Headquarters', 'Recovery_DC']) {
    const folder = names.find((n) => n.startsWith(`${site}-`))?.split('/')[0];
    expect(folder, `${site} in ${names.join(', ')}`).toBeDefined();
    for (const part of ['state/vpgs.json', 'system/facts.json', 'manifest.json']) {
      expect(names).toContain(`${folder}/${part}`);
    }
    expect(names.some((n) => n.startsWith(`${folder}/logs/agent.`))).toBe(true);
  }
  expect(JSON.parse(files.get('problems.json')?.toString() ?? 'null')).toEqual([]);
  expect(holdersOf(files, [...tokens, 'PRIVATE KEY'])).toEqual([]);

  await dialog.root.getByRole('button', { name: 'Close' }).click();
  await expect(dialog.root).toBeHidden();
});
