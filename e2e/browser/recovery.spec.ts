import { rename } from 'node:fs/promises';
import type { Page, TestInfo } from '@playwright/test';
import { journalDirFor } from '../../agent/journal/layout';
import { readJournalConfig } from '../../agent/journal/state-files';
import { writeSeed } from '../fixtures/agent-sites';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import {
  call,
  insertNamedCheckpoint,
  recoveredVmNames,
  startRecoveryLab,
} from '../fixtures/recovery-lab';
import { EstatePage } from '../pages/estate-page';
import { RecoveryPage } from '../pages/recovery-page';

test.use({ viewport: { width: 1440, height: 1000 } });

/** The live failover's first VM boots alone, the second this long after it. */
const BOOT_DELAY_SECONDS = 8;

async function keepShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = repoPath(`artifacts/e2e/recovery-${name}.png`);
  await page.screenshot({ path, animations: 'disabled', fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

test('a test failover from the wizard at a named checkpoint: its steps, its VMs, stopped, the checkpoint marked tested', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const rl = await startRecoveryLab(lab, 'Payroll');
  await insertNamedCheckpoint(rl, 'before-upgrade');
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await new EstatePage(page).open(server.url);
  const recovery = new RecoveryPage(page);
  await recovery.open();
  await expect(recovery.row('Payroll')).toContainText('Headquarters');
  await expect(recovery.unreachableBanner('Headquarters')).toHaveCount(0);

  // The wizard: test mode, the named checkpoint picked from the list, the summary.
  const wizard = await recovery.openWizard('Payroll');
  await expect(wizard.mode('Move (planned)')).toBeEnabled();
  await wizard.mode('Test failover').click();
  await wizard.next();
  await expect(wizard.timelineMark('before-upgrade')).toBeVisible();
  await wizard.root.getByLabel('A specific checkpoint').check();
  await wizard.checkpoint('before-upgrade').click();
  await expect(wizard.timelineMark('before-upgrade')).toHaveAttribute('aria-pressed', 'true');
  await keepShot(page, testInfo, 'wizard-checkpoint');
  await wizard.next();
  await wizard.next();
  await expect(wizard.summary().filter({ hasText: 'before-upgrade' })).toHaveCount(1);
  await keepShot(page, testInfo, 'wizard-summary');
  await wizard.root.getByRole('button', { name: 'Start test' }).click();
  await expect(wizard.root).toBeHidden();

  // The live view follows the task until the test VMs are up.
  await expect(recovery.phase).toHaveText('Test running', { timeout: 90_000 });
  await expect(recovery.steps.first()).toBeVisible();
  const steps = await recovery.steps.count();
  expect(steps).toBeGreaterThan(2);
  for (let i = 0; i < steps; i += 1) {
    await expect(recovery.steps.nth(i)).toHaveAttribute('data-state', /done|skipped/);
  }
  await expect(recovery.vms).toHaveCount(2);
  for (const row of await recovery.vms.all()) {
    await expect(row.getByText('Running', { exact: true })).toBeVisible();
    await expect(row).toHaveAttribute('data-powered', 'true');
  }
  expect(await recoveredVmNames(rl)).toHaveLength(2);
  await keepShot(page, testInfo, 'test-running');

  // Stop it with a verdict: the test VMs go away, at the recovery site too.
  await page.getByRole('button', { name: 'Stop test…' }).click();
  const stop = page.getByRole('dialog', { name: 'Stop the test of Payroll' });
  await stop.getByLabel('Passed').check();
  await stop.getByLabel('Note').fill('App login and payroll run OK');
  await stop.getByRole('button', { name: 'Stop test' }).click();
  await expect(recovery.phase).toHaveText('Test stopped', { timeout: 60_000 });
  for (const row of await recovery.vms.all()) {
    await expect(row.getByText('Removed', { exact: true })).toBeVisible();
  }
  await expect.poll(() => recoveredVmNames(rl), { timeout: 30_000 }).toEqual([]);
  await keepShot(page, testInfo, 'test-stopped');

  // The checkpoint now says it was tested.
  await recovery.backToList();
  await recovery.openWizard('Payroll');
  await wizard.next();
  await wizard.root.getByLabel('A specific checkpoint').check();
  await expect(wizard.checkpoint('before-upgrade')).toContainText('Tested');
  await expect(wizard.checkpoint('before-upgrade')).toContainText('App login and payroll run OK');
  await keepShot(page, testInfo, 'checkpoint-tested');
  await wizard.root.getByRole('button', { name: 'Cancel' }).click();

  // The VPG's row says when it was last tested.
  await expect(page.getByRole('row', { name: 'VPG Payroll' })).toContainText('Tested today');

  // The test's record is discarded from the history; the checkpoint keeps its mark.
  const history = page.getByRole('table', { name: 'Failover history' });
  await expect(history.getByRole('row', { name: 'Failover Payroll test' })).toHaveCount(1);
  await page.getByRole('button', { name: 'Discard test records…' }).click();
  const discard = page.getByRole('dialog', { name: 'Discard test records' });
  await expect(discard.getByLabel('How many of the oldest')).toHaveValue('1');
  await discard.getByRole('button', { name: 'Discard' }).click();
  await expect(discard).toBeHidden();
  await expect(history.getByRole('row', { name: 'Failover Payroll test' })).toHaveCount(0);
  await keepShot(page, testInfo, 'test-discarded');
  await recovery.openWizard('Payroll');
  await wizard.next();
  await wizard.root.getByLabel('A specific checkpoint').check();
  await expect(wizard.checkpoint('before-upgrade')).toContainText('Tested');
  await wizard.root.getByRole('button', { name: 'Cancel' }).click();

  // A test of one VM alone: the other stays down.
  const partial = await recovery.openWizard('Payroll');
  await partial.mode('Test failover').click();
  await partial.next();
  await partial.next();
  const chosen = partial.root.getByRole('group', { name: 'VMs to bring up' });
  const keptName = await chosen.locator('label').nth(1).innerText();
  await chosen.getByRole('checkbox').first().uncheck();
  await partial.next();
  await expect(partial.summary().filter({ hasText: keptName })).toHaveCount(1);
  await partial.root.getByRole('button', { name: 'Start test' }).click();
  await expect(recovery.phase).toHaveText('Test running', { timeout: 90_000 });
  await expect(recovery.vms).toHaveCount(1);
  expect(await recoveredVmNames(rl)).toHaveLength(1);
  await keepShot(page, testInfo, 'test-one-vm');
  await page.getByRole('button', { name: 'Stop test…' }).click();
  await page
    .getByRole('dialog', { name: 'Stop the test of Payroll' })
    .getByRole('button', { name: 'Stop test' })
    .click();
  await expect(recovery.phase).toHaveText('Test stopped', { timeout: 60_000 });
  await expect.poll(() => recoveredVmNames(rl), { timeout: 30_000 }).toEqual([]);
});

test('a live failover with the protected site’s agent stopped: the console says so, the recovery site brings the VMs up, rolled back', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const rl = await startRecoveryLab(lab, 'Billing', BOOT_DELAY_SECONDS);
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await new EstatePage(page).open(server.url);
  const recovery = new RecoveryPage(page);
  await recovery.open();
  await expect(recovery.row('Billing')).toBeVisible();

  // The protected site goes down.
  await rl.hq.running.stop();
  await expect(recovery.unreachableBanner('Headquarters')).toContainText(
    "Protected site Headquarters is unreachable — live failover runs with the recovery site's agents alone",
    { timeout: 60_000 },
  );
  await expect(recovery.row('Billing')).toContainText('(unreachable)');
  await keepShot(page, testInfo, 'unreachable');

  // Only test and live are offered; the live failover runs at the latest checkpoint.
  const wizard = await recovery.openWizard('Billing');
  await expect(wizard.mode('Move (planned)')).toBeDisabled();
  await expect(wizard.mode('Test failover')).toBeEnabled();
  await wizard.mode('Live failover').click();
  await expect(wizard.mode('Live failover')).toHaveAttribute('aria-checked', 'true');
  await keepShot(page, testInfo, 'live-mode');
  await wizard.next();
  await expect(wizard.root.getByLabel('Latest checkpoint')).toBeChecked();
  await wizard.next();
  await expect(wizard.root.getByLabel(/Shut down the protected VMs/)).toBeDisabled();
  await wizard.next();
  await expect(wizard.summary().filter({ hasText: 'Headquarters (unreachable)' })).toHaveCount(1);
  await keepShot(page, testInfo, 'live-summary');
  await wizard.root.getByRole('button', { name: 'Start failover' }).click();
  await expect(wizard.root).toBeHidden();

  // The VMs come up in boot order: group 0 first, group 1 after its delay.
  await expect(recovery.vms).toHaveCount(2, { timeout: 60_000 });
  await expect(recovery.vms.nth(0)).toHaveAttribute('data-powered', 'true', { timeout: 60_000 });
  await expect(recovery.phase).toHaveText('Bringing VMs up');
  await expect(recovery.vms.nth(0)).toContainText('Group 0');
  await expect(recovery.vms.nth(1)).toContainText('Group 1');
  await expect(recovery.vms.nth(1)).toHaveAttribute('data-powered', 'false');
  await expect(recovery.vms.nth(1)).toContainText('Waiting');
  await keepShot(page, testInfo, 'live-booting');
  await expect(recovery.phase).toHaveText('Waiting for commit', { timeout: 90_000 });
  await expect(recovery.vms.nth(1)).toHaveAttribute('data-powered', 'true');
  // Powered on at +N s after the start: the second group waited for the first one's delay.
  const after = async (i: number): Promise<number> =>
    Number(/\(\+(\d+) s\)/.exec(await recovery.vms.nth(i).innerText())?.[1] ?? NaN);
  expect((await after(1)) - (await after(0))).toBeGreaterThanOrEqual(BOOT_DELAY_SECONDS - 1);
  for (const row of await recovery.vms.all()) {
    await expect(row.getByText('Running', { exact: true })).toBeVisible();
  }
  expect(await recoveredVmNames(rl)).toHaveLength(2);
  await keepShot(page, testInfo, 'live-before-commit');

  await page.getByRole('button', { name: 'Roll back' }).click();
  await expect(recovery.phase).toHaveText('Rolled back', { timeout: 60_000 });
  await expect.poll(() => recoveredVmNames(rl), { timeout: 30_000 }).toEqual([]);
  await keepShot(page, testInfo, 'live-rolled-back');
});

test('a planned move from the wizard with reverse protection, committed', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const rl = await startRecoveryLab(lab, 'Intranet');
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await new EstatePage(page).open(server.url);
  const recovery = new RecoveryPage(page);
  await recovery.open();

  const wizard = await recovery.openWizard('Intranet');
  await wizard.mode('Move (planned)').click();
  await wizard.next();
  await expect(wizard.root).toContainText('inserts a checkpoint of its own');
  await wizard.next();
  await wizard.root.getByLabel(/Protect the recovered VMs back toward Headquarters/).check();
  await wizard.next();
  await expect(wizard.summary().filter({ hasText: 'Toward Headquarters, at commit' })).toHaveCount(
    1,
  );
  await wizard.root.getByRole('button', { name: 'Start move' }).click();
  await expect(wizard.root).toBeHidden();

  await expect(recovery.phase).toHaveText('Waiting for commit', { timeout: 90_000 });
  await expect(recovery.vms).toHaveCount(2);
  await page.getByRole('button', { name: 'Commit' }).click();
  await expect(recovery.phase).toHaveText(/Promoting|Committed/, { timeout: 60_000 });
  await expect(recovery.phase).toHaveText('Committed', { timeout: 90_000 });
  expect(await recoveredVmNames(rl)).toHaveLength(2);
  await keepShot(page, testInfo, 'move-committed');
});

test('a commit whose promotion failed part-way: only commit again is offered, and it finishes', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const rl = await startRecoveryLab(lab, 'Payroll');
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await call(rl.dr, 'failover.live', { vpgId: rl.vpgId });
  await new EstatePage(page).open(server.url);
  const recovery = new RecoveryPage(page);
  await recovery.open();
  await page
    .getByRole('row', { name: 'Failover Payroll live' })
    .getByRole('button', { name: 'Details' })
    .click();
  await expect(recovery.phase).toHaveText('Waiting for commit', { timeout: 90_000 });

  // A replica file moved away at the recovery site: the promotion fails after it started.
  const { disks } = await readJournalConfig(journalDirFor(rl.dr.init.dataDir, rl.vpgId));
  const replica = disks.at(-1)?.replicaPath ?? '';
  await rename(replica, `${replica}.away`);
  await page.getByRole('button', { name: 'Commit' }).click();
  await expect(
    page.getByText('The commit stopped part-way. Commit again to finish it.'),
  ).toBeVisible({
    timeout: 60_000,
  });
  await expect(page.getByText(/can no longer be rolled back/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Roll back' })).toHaveCount(0);
  await keepShot(page, testInfo, 'promotion-failed');

  await rename(`${replica}.away`, replica);
  await page.getByRole('button', { name: 'Commit' }).click();
  await expect(recovery.phase).toHaveText('Committed', { timeout: 90_000 });
  expect(await recoveredVmNames(rl)).toHaveLength(2);
});
