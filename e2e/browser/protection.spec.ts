import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';
import { ProtectionPage } from '../pages/protection-page';

test('protecting two Headquarters VMs: a VPG with a live RPO gauge, and a named checkpoint confirmed at the recovery site', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const demo = await lab.startDemo({ bare: true });
  const estate = new EstatePage(page);
  await estate.open(demo.url);

  // Nothing to protect to yet: the Protection page says why.
  const protection = new ProtectionPage(page);
  await protection.open();
  await expect(protection.emptyState).toBeVisible();
  await expect(protection.newVpgButton).toBeDisabled();
  await expect(page.getByText('Pair a protected site with a recovery site first')).toBeVisible();

  await estate.page
    .getByRole('navigation', { name: 'Main navigation' })
    .getByRole('button', { name: 'Estate' })
    .click();
  const pair = await estate.openPairSites();
  await pair.choose(pair.protectedSite, 'Headquarters');
  await pair.choose(pair.recoverySite, 'Recovery DC');
  await pair.pair.click();
  await expect(pair.alert).toContainText('Headquarters and Recovery DC are paired');
  await pair.done.click();
  await pair.expectClosed();
  await expect(estate.pairingLink('Headquarters', 'Recovery DC')).toHaveText('Connected');

  await protection.open();
  const wizard = await protection.openWizard();
  // Step 1: "Next" without a name or VMs shows the schema's messages inline.
  await wizard.next.click();
  await expect(wizard.root).toContainText('Give the VPG a name');
  await expect(wizard.root).toContainText('A VPG protects at least one VM');
  await wizard.name.fill('Finance');
  await expect(wizard.protectedSite).toContainText('Headquarters');
  const free = await wizard.freeVmNames();
  expect(free.length).toBeGreaterThanOrEqual(2);
  const chosen = free.slice(0, 2);
  for (const name of chosen) await wizard.chooseVm(name);
  await expect(wizard.root).toContainText('2 VMs chosen');
  const wizardShot = repoPath('artifacts/e2e/protection-wizard.png');
  await page.screenshot({ path: wizardShot, animations: 'disabled' });
  await testInfo.attach('new VPG wizard', { path: wizardShot, contentType: 'image/png' });
  await wizard.next.click();

  // Step 2: the paired site, its host and datastore are offered (and preselected).
  await expect(wizard.recoverySite).toContainText('Recovery DC');
  await expect(wizard.recoveryHost).toContainText('recovery-dc');
  await expect(wizard.datastore).not.toBeEmpty();
  await wizard.next.click();

  // Step 3: journal and RPO; an RPO target of 0 is refused by the schema.
  await wizard.rpoTarget.fill('0');
  await wizard.next.click();
  await expect(wizard.root).toContainText('Must be more than 0 s');
  await wizard.rpoTarget.fill('30');
  await wizard.next.click();

  // Step 4: the summary, then Create.
  await expect(wizard.root).toContainText('Finance');
  for (const name of chosen) await expect(wizard.root).toContainText(name);
  await expect(wizard.root).toContainText('Recovery DC');
  await wizard.create.click();
  await wizard.expectClosed();

  // The list: the VPG once, Headquarters → Recovery DC, a live RPO that moves.
  const row = protection.row('Finance');
  await expect(row).toBeVisible();
  await expect(row).toContainText('Headquarters');
  await expect(row).toContainText('Recovery DC');
  await expect(row).toContainText(/target 30 s/);
  await expect
    .poll(() => protection.rpoSeconds('Finance'), {
      message: 'the RPO gauge shows a value',
      timeout: 120_000,
    })
    .not.toBeUndefined();
  const first = await protection.rpoSeconds('Finance');
  await expect
    .poll(() => protection.rpoSeconds('Finance'), {
      message: 'the RPO gauge moves',
      timeout: 20_000,
    })
    .not.toBe(first);
  await expect(row.getByRole('status')).toHaveText('Protecting', { timeout: 60_000 });

  // The detail: insert "before-upgrade"; pending until the recovery site confirms it.
  const detail = await protection.openVpg('Finance');
  await expect(detail.checkpoints.getByRole('row').nth(1)).toBeVisible();
  // Demo lab: raise the VMs' simulated write load (workloads.set); the written rate follows.
  await detail.simulatedLoad('5 MB/s').click();
  await expect(detail.simulatedLoad('5 MB/s')).toHaveAttribute('aria-pressed', 'true');
  await expect(detail.figure('Written')).toHaveText(/^(0\.\d*[1-9]\d*|[1-9][\d.]*) MB\/s$/, {
    timeout: 20_000,
  });
  await detail.insert('before-upgrade');
  const checkpoint = detail.checkpoint('before-upgrade');
  await expect(checkpoint).toBeVisible();
  await expect(checkpoint).toContainText(/Pending|Confirmed/);
  await expect(page.getByText('Confirmed at the recovery site')).toBeVisible({ timeout: 60_000 });
  await expect(checkpoint).toContainText('Confirmed');
  await expect(checkpoint).toContainText('Named');

  await expect
    .poll(() => detail.trendSeconds(), {
      message: 'two dozen seconds of RPO trend',
      timeout: 60_000,
    })
    .toBeGreaterThanOrEqual(24);
  const path = repoPath('artifacts/e2e/protection.png');
  await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  await testInfo.attach('protection', { path, contentType: 'image/png' });

  // Back to the list: the same live figures, the load included.
  await protection.open();
  await expect(row).toContainText(/Written\s*[1-9][\d.]* MB\/s/);
  const listShot = repoPath('artifacts/e2e/protection-list.png');
  await page.screenshot({ path: listShot, animations: 'disabled' });
  await testInfo.attach('VPG list', { path: listShot, contentType: 'image/png' });

  // Remove VPG, with confirmation: the list is empty again.
  await protection.openVpg('Finance');
  await detail.removeVpg.click();
  const confirm = page.getByRole('dialog', { name: 'Remove VPG Finance?' });
  await expect(confirm).toContainText('Recovery DC');
  await confirm.getByRole('button', { name: 'Remove VPG' }).click();
  await expect(confirm).toBeHidden({ timeout: 30_000 });
  await expect(protection.emptyState).toBeVisible({ timeout: 30_000 });
});
