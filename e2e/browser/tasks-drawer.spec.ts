import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Page, TestInfo } from '@playwright/test';
import { agentMethods } from '../../app/protocol/agent-api';
import { writeSeed } from '../fixtures/agent-sites';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { call, insertNamedCheckpoint, startRecoveryLab } from '../fixtures/recovery-lab';
import { EstatePage } from '../pages/estate-page';
import { ProtectionPage } from '../pages/protection-page';
import { TaskHistory, TasksDrawer } from '../pages/tasks-drawer';

test.use({ viewport: { width: 1440, height: 1000 } });

/** The test failover's first VM boots this long after the start: time to see it run. */
const BOOT_DELAY_SECONDS = 6;

/** Data on a sim VM's disk file before it is protected: what an initial sync copies. */
async function fillDisk(dataDir: string, location: string): Promise<void> {
  const file = await open(resolve(dataDir, location), 'r+');
  try {
    await file.write(randomBytes(8 * 2 ** 20), 0, 8 * 2 ** 20, 0);
  } finally {
    await file.close();
  }
}

async function keepShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = repoPath(`artifacts/e2e/${name}.png`);
  await page.screenshot({ path, animations: 'disabled' });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

test('the tasks drawer follows every agent’s tasks: a VPG’s initial sync, a failed export with its reason, a test failover step by step and its stop; the VPG page lists its own', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const rl = await startRecoveryLab(lab, 'Payroll', BOOT_DELAY_SECONDS);
  // A VM with data on its disk (an empty sim disk needs no initial sync): Ledger protects it.
  const vms = agentMethods['vm.list'].result.parse(await call(rl.hq, 'vm.list'));
  const payroll = agentMethods['vpg.state'].result.parse(
    await call(rl.hq, 'vpg.state', { vpgId: rl.vpgId }),
  );
  const free = vms.find((vm) => vm.disks.length === 1 && !payroll.vmIds.includes(vm.vmId));
  const host = agentMethods['host.list'].result.parse(await call(rl.dr, 'host.list'))[0];
  if (free === undefined || host === undefined)
    throw new Error('the sim sites are not as expected');
  await fillDisk(rl.hq.init.dataDir, free.disks[0]?.location ?? '');

  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await new EstatePage(page).open(server.url);

  // Collapsed: a bar at the foot of the page; opened, the panel with its table.
  const tasks = new TasksDrawer(page);
  await expect(tasks.toggle).toBeVisible();
  await expect(tasks.table).toBeHidden();
  await tasks.open();

  // A new VPG: its initial sync shows up live and goes to Completed, its steps all done.
  await call(rl.hq, 'vpg.create', {
    name: 'Ledger',
    vmIds: [free.vmId],
    recoverySiteId: payroll.recoverySiteId,
    recoveryHostId: host.hostId,
    recoveryDatastore: host.datastores[0]?.name,
    journal: { historySeconds: 3600, hardLimitBytes: 2 ** 33, warningBytes: 2 ** 32 },
    rpoTargetSeconds: 30,
  });
  const ledgerSync = tasks.row('Initial sync', 'Ledger');
  await expect(ledgerSync).toBeVisible();
  await expect(ledgerSync).toHaveAttribute('data-state', 'Completed', { timeout: 60_000 });
  await expect(ledgerSync).toContainText('100 %');
  const syncDetails = await tasks.openDetails('Initial sync', 'Ledger');
  await expect(syncDetails.state).toHaveText('Completed');
  await expect(syncDetails.steps.first()).toBeVisible();
  for (const step of await syncDetails.steps.all()) {
    await expect(step).toHaveAttribute('data-state', /done|skipped/);
  }
  await expect(syncDetails.root.getByRole('region', { name: 'Input' })).toContainText('disks');
  await syncDetails.close();

  // A window opened later gets the same from the agents' own task history.
  await page.reload();
  await new EstatePage(page).waitUntilLive();
  await tasks.open();
  await expect(ledgerSync).toHaveAttribute('data-state', 'Completed');

  // An export the recovery site cannot write: Failed, with the agent's reason in the details.
  const { seq } = await insertNamedCheckpoint(rl, 'before-export');
  await call(rl.dr, 'checkpoint.exportDisk', {
    vpgId: rl.vpgId,
    diskId: payroll.disks[0]?.diskId,
    checkpointSeq: seq,
    path: '/proc/tideline-e2e-export.raw',
  });
  const exportRow = tasks.row('Disk export', 'Payroll');
  // The agent ends a task that threw as HadException: "Error", in red like "Failed".
  await expect(exportRow).toHaveAttribute('data-state', /^(Failed|Error)$/, { timeout: 30_000 });
  const exportDetails = await tasks.openDetails('Disk export', 'Payroll');
  await expect(exportDetails.state).toHaveText(/^(Failed|Error)$/);
  await expect(exportDetails.exception).not.toBeEmpty();
  await expect(exportDetails.abort).toHaveCount(0);
  await exportDetails.close();

  // The filter: failed ones only, then words.
  await tasks.show('Failed');
  await expect(tasks.rows).toHaveCount(1);
  await expect(exportRow).toBeVisible();
  await tasks.show('All');
  await tasks.find('ledger');
  await expect(tasks.rows).toHaveCount(1);
  await tasks.find('');

  // A test failover runs at the recovery site: the bar counts it, its row runs, then completes.
  await call(rl.dr, 'failover.test', { vpgId: rl.vpgId });
  const testRow = tasks.row('Test failover', 'Payroll');
  await expect(testRow).toHaveAttribute('data-state', 'Running');
  await expect.poll(() => tasks.runningCount()).toBeGreaterThanOrEqual(1);
  const testDetails = await tasks.openDetails('Test failover', 'Payroll');
  await expect(testDetails.state).toHaveText('Running');
  await expect(testDetails.root.locator('li[data-state="running"]')).toHaveCount(1);
  await expect(testDetails.abort).toHaveCount(0); // a failover is not abortable
  await expect(testDetails.root).toContainText('cannot stop a test failover safely');
  await testDetails.close();
  await keepShot(page, testInfo, 'tasks-drawer');
  await tasks.openDetails('Test failover', 'Payroll');
  await expect(testDetails.state).toHaveText('Completed', { timeout: 90_000 });
  for (const step of await testDetails.steps.all()) {
    await expect(step).toHaveAttribute('data-state', /done|skipped/);
  }
  await testDetails.close();
  await expect(testRow).toHaveAttribute('data-state', 'Completed');

  // Stopping the test is a task of its own.
  await call(rl.dr, 'failover.stopTest', { vpgId: rl.vpgId, result: 'Passed' });
  await expect(tasks.row('Stopping the test', 'Payroll')).toHaveAttribute(
    'data-state',
    'Completed',
    { timeout: 60_000 },
  );
  await expect.poll(() => tasks.runningCount()).toBe(0);
  const details = await tasks.openDetails('Test failover', 'Payroll');
  await expect(details.steps.first()).toBeVisible();
  await keepShot(page, testInfo, 'tasks-drawer-details');
  await details.close();

  // The VPG's page: its own tasks only, from both sites, in the same table.
  await tasks.close();
  const protection = new ProtectionPage(page);
  await protection.open();
  await protection.openVpg('Payroll');
  const history = new TaskHistory(page);
  await history.root.scrollIntoViewIfNeeded();
  for (const type of ['Disk export', 'Test failover', 'Stopping the test']) {
    await expect(history.row(type)).toBeVisible();
  }
  await expect(history.rows).toHaveCount(3);
  await expect(tasks.toggle).toBeVisible();
  const historyDetails = await history.openDetails('Disk export');
  await expect(historyDetails.exception).not.toBeEmpty();
  await historyDetails.close();
});
