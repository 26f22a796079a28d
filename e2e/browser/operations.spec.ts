import { readFile } from 'node:fs/promises';
import type { Page, TestInfo } from '@playwright/test';
import { agentMethods } from '../../app/protocol/agent-api';
import { callAgent } from '../fixtures/agent-rpc';
import { writeSeed } from '../fixtures/agent-sites';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { startRecoveryLab } from '../fixtures/recovery-lab';
import { EstatePage } from '../pages/estate-page';
import { ProtectionPage } from '../pages/protection-page';
import { RecoveryPage } from '../pages/recovery-page';
import { SupportDialog } from '../pages/support-dialog';
import { TasksDrawer } from '../pages/tasks-drawer';
import { holdersOf, readTarGz } from '../../test/helpers/support-archive';

test.use({ viewport: { width: 1440, height: 1000 } });

async function keepShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = repoPath(`artifacts/e2e/operations-${name}.png`);
  await page.screenshot({ path, animations: 'disabled', fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/**
 * Issue 15's day-to-day operations end to end, in browser mode against two real agents: edit
 * a VPG (a VM joins, with its boot group and a static test address), see the diff, save; a
 * test failover of that VM alone lands on the mapped network with its address; the test's
 * record is discarded; the tasks drawer follows each task; a support bundle of both agents
 * lists the expected files and holds no token.
 */
test('edit a VPG, test the added VM alone with its re-IP, discard the test, follow the tasks, save a support bundle', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(300_000);
  const rl = await startRecoveryLab(lab, 'Orders', undefined, 1);
  const [kept, joining] = rl.vms;
  if (kept === undefined || joining === undefined) throw new Error('the lab has two VMs');
  const nic = joining.nics[0];
  if (nic === undefined) throw new Error(`${joining.name} has no NIC`);
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await new EstatePage(page).open(server.url);
  const protection = new ProtectionPage(page);
  await protection.open();
  await protection.openVpg('Orders');

  // Edit: the VM joins; in its recovery settings, boot group 1 and a static test address.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Edit VPG Orders' });
  await dialog.getByRole('tab', { name: 'VMs' }).click();
  await dialog
    .getByRole('table', { name: 'VMs to protect' })
    .getByRole('checkbox', { name: joining.name, exact: true })
    .check();
  await dialog.getByRole('tab', { name: 'Boot order and networks' }).click();
  const settings = dialog.getByRole('region', { name: `Recovery of ${joining.name}` });
  await settings.getByLabel('Boot group').fill('1');
  await settings.getByLabel('Delay after (s)').fill('3');
  await settings.getByLabel(`${nic.name} test network`).fill('orders-lab');
  await settings.getByLabel(`${nic.name} test IP`).click();
  await page.getByRole('listbox').getByRole('option', { name: 'Static' }).click();
  // A bad address is refused beside its field, not sent.
  await settings.getByLabel(`${nic.name} test address`).fill('10.99.0.300');
  await dialog.getByRole('button', { name: 'Review changes' }).click();
  await expect(settings.getByText('must be an IPv4 address', { exact: false })).toBeVisible();
  await settings.getByLabel(`${nic.name} test address`).fill('10.99.0.20');
  await keepShot(page, testInfo, 'edit-networks');

  // The diff before saving.
  await dialog.getByRole('button', { name: 'Review changes' }).click();
  const review = page.getByRole('dialog', { name: 'Review the changes' });
  const changes = review.getByRole('table', { name: 'Changes' });
  await expect(changes.getByRole('row', { name: `VM ${joining.name}` })).toContainText('Added');
  await expect(changes.getByRole('row', { name: `${joining.name}: boot` })).toContainText(
    'Group 1, then 3 s',
  );
  await expect(changes.getByRole('row', { name: `${joining.name}: test network` })).toContainText(
    `${nic.name} → orders-lab, 10.99.0.20/24`,
  );
  await keepShot(page, testInfo, 'edit-review');
  await review.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(review).toBeHidden({ timeout: 60_000 });
  await expect(page.getByText(`Saved: add VM ${joining.name}`)).toBeVisible();
  await expect(page.getByRole('region', { name: 'Settings' })).toContainText(joining.name);
  await keepShot(page, testInfo, 'edit-saved');

  // The tasks drawer follows the resync that brings the new VM's disk over, to its end.
  const drawer = new TasksDrawer(page);
  await drawer.open();
  await expect(drawer.row('Resync', 'Orders')).toContainText('Completed', { timeout: 90_000 });
  const resync = await drawer.openDetails('Resync', 'Orders');
  await expect(resync.state).toContainText('Completed');
  await expect(resync.steps).not.toHaveCount(0);
  await keepShot(page, testInfo, 'tasks-resync');
  await resync.close();
  await drawer.close();

  // The recovery site has the settings: the agent says so, not the console.
  await expect
    .poll(
      async () => {
        const state = agentMethods['vpg.state'].result.parse(
          await callAgent(
            {
              port: rl.dr.running.port,
              token: rl.dr.init.token,
              fingerprint: rl.dr.init.fingerprint,
            },
            'vpg.state',
            { vpgId: rl.vpgId },
          ),
        );
        return state.recovery?.vms.find((v) => v.vmId === joining.vmId)?.test[0]?.ip;
      },
      { timeout: 30_000 },
    )
    .toEqual({ mode: 'static', address: '10.99.0.20', prefixLength: 24, dns: [] });

  // A test failover of the added VM alone, once it is synced: it lands on the mapped network.
  const recovery = new RecoveryPage(page);
  await recovery.open();
  await expect(page.getByRole('row', { name: 'VPG Orders' })).toContainText('Protecting', {
    timeout: 90_000,
  });
  const wizard = await recovery.openWizard('Orders');
  await wizard.mode('Test failover').click();
  await wizard.next();
  await wizard.next();
  const chosen = wizard.root.getByRole('group', { name: 'VMs to bring up' });
  await chosen.getByRole('checkbox', { name: kept.name, exact: true }).uncheck();
  await wizard.next();
  await wizard.root.getByRole('button', { name: 'Start test' }).click();
  await expect(recovery.phase).toHaveText('Test running', { timeout: 90_000 });
  await expect(recovery.vms).toHaveCount(1);
  const row = page.getByRole('row', { name: `VM ${joining.name}` });
  await expect(row).toContainText('Group 1');
  await expect(row).toContainText('orders-lab (10.99.0.20/24)');
  await keepShot(page, testInfo, 'test-mapped');
  await drawer.open();
  await expect(drawer.row('Test failover', 'Orders')).toContainText('Completed');
  const bringUp = await drawer.openDetails('Test failover', 'Orders');
  for (const step of await bringUp.steps.all()) {
    await expect(step).toHaveAttribute('data-state', /done|skipped/);
  }
  await bringUp.close();
  await drawer.close();
  await page.getByRole('button', { name: 'Stop test…' }).click();
  await page
    .getByRole('dialog', { name: 'Stop the test of Orders' })
    .getByRole('button', { name: 'Stop test' })
    .click();
  await expect(recovery.phase).toHaveText('Test stopped', { timeout: 60_000 });
  await drawer.open();
  await expect(drawer.row('Stopping the test', 'Orders')).toContainText('Completed');
  await keepShot(page, testInfo, 'tasks-after-test');
  await drawer.close();

  // The test's record is discarded.
  await recovery.backToList();
  const history = page.getByRole('table', { name: 'Failover history' });
  await expect(history.getByRole('row', { name: 'Failover Orders test' })).toHaveCount(1);
  await page.getByRole('button', { name: 'Discard test records…' }).click();
  const discard = page.getByRole('dialog', { name: 'Discard test records' });
  await discard.getByRole('button', { name: 'Discard' }).click();
  await expect(discard).toBeHidden();
  await expect(history.getByRole('row', { name: 'Failover Orders test' })).toHaveCount(0);
  await keepShot(page, testInfo, 'test-discarded');

  // A support bundle of both agents: their files and the console's log, and no token.
  await page
    .getByRole('navigation', { name: 'Main navigation' })
    .getByRole('button', { name: 'Estate' })
    .click();
  const support = await SupportDialog.open(page);
  await support.root.getByRole('button', { name: 'Last hour' }).click();
  await support.collect.click();
  await expect(support.progress).toContainText('Ready', { timeout: 60_000 });
  const download = await support.download();
  await keepShot(page, testInfo, 'support-bundle');
  const files = await readTarGz(await readFile(await download.path()));
  const names = [...files.keys()];
  await testInfo.attach('support bundle files', {
    body: names.join('\n'),
    contentType: 'text/plain',
  });
  expect(names).toContain('console/console.log');
  for (const site of ['Headquarters', 'Recovery_DC']) {
    const folder = names.find((n) => n.startsWith(`${site}-`))?.split('/')[0];
    expect(folder, `${site} in ${names.join(', ')}`).toBeDefined();
    for (const part of ['state/vpgs.json', 'state/tasks.json', 'system/facts.json']) {
      expect(names).toContain(`${folder}/${part}`);
    }
    expect(names.some((n) => n.startsWith(`${folder}/logs/agent.`))).toBe(true);
  }
  expect(files.get(names.find((n) => n.endsWith('state/vpgs.json')) ?? '')?.toString()).toContain(
    'Orders',
  );
  expect(holdersOf(files, [rl.hq.init.token, rl.dr.init.token, 'PRIVATE KEY'])).toEqual([]);
});
