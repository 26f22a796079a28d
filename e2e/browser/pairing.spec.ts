import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';

test('pairing Headquarters with Recovery DC shows the pair connected, and unpairing removes it', async ({
  page,
  lab,
}, testInfo) => {
  const demo = await lab.startDemo({ bare: true });
  const estate = new EstatePage(page);
  await estate.open(demo.url);
  await expect(estate.site('Headquarters').getByRole('status')).toHaveText(['Connected']);
  await expect(estate.site('Recovery DC').getByRole('status')).toHaveText(['Connected']);
  await expect(estate.pairings).toContainText('No sites are paired yet');

  const dialog = await estate.openPairSites();
  await expect(dialog.root).toContainText('mutual TLS');
  await expect(dialog.pair).toBeDisabled();
  await dialog.choose(dialog.protectedSite, 'Headquarters');
  await dialog.choose(dialog.recoverySite, 'Recovery DC');
  await dialog.pair.click();
  await expect(dialog.alert).toContainText('Headquarters and Recovery DC are paired');
  await expect(dialog.root.getByRole('status')).toHaveText('Connected');
  const dialogShot = repoPath('artifacts/e2e/pair-sites-dialog.png');
  await page.screenshot({ path: dialogShot });
  await testInfo.attach('pair sites dialog', { path: dialogShot, contentType: 'image/png' });
  await dialog.done.click();
  await dialog.expectClosed();

  await expect(estate.pairingLink('Headquarters', 'Recovery DC')).toHaveText('Connected');
  await expect(estate.pairing('Headquarters', 'Recovery DC')).toContainText('Paired since');

  // LZ4 both ways: the switch shows what both sites' agents report back.
  const compress = estate
    .pairing('Headquarters', 'Recovery DC')
    .getByRole('switch', { name: 'Compress (LZ4)' });
  await expect(compress).not.toBeChecked();
  await expect(estate.pairing('Headquarters', 'Recovery DC')).toContainText(
    'Saves bandwidth on WAN links',
  );
  await compress.click();
  await expect(compress).toBeChecked();
  await expect(compress).toBeEnabled();
  await expect(estate.site('Headquarters')).toContainText('Paired with Recovery DC');
  await expect(estate.site('Recovery DC')).toContainText('Paired with Headquarters');

  const path = repoPath('artifacts/e2e/pairing.png');
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach('pairing', { path, contentType: 'image/png' });
  await compress.click();
  await expect(compress).not.toBeChecked();

  // The dialog knows they are paired already and offers nothing to do.
  const again = await estate.openPairSites();
  await again.choose(again.protectedSite, 'Recovery DC');
  await again.choose(again.recoverySite, 'Headquarters');
  await expect(again.root).toContainText('already paired');
  await expect(again.pair).toBeDisabled();
  await again.cancel.click();
  await again.expectClosed();

  await estate
    .pairing('Headquarters', 'Recovery DC')
    .getByRole('button', { name: 'Unpair' })
    .click();
  const confirm = page.getByRole('dialog', { name: 'Unpair Headquarters and Recovery DC?' });
  await expect(confirm).toContainText('replication between these sites stops');
  await confirm.getByRole('button', { name: 'Unpair', exact: true }).click();
  await expect(confirm).toBeHidden();
  await expect(estate.pairing('Headquarters', 'Recovery DC')).toBeHidden();
  await expect(estate.pairings).toContainText('No sites are paired yet');
  await expect(estate.site('Headquarters')).toContainText('Not paired');
});
