import type { Page, TestInfo } from '@playwright/test';
import type { PolicyTarget } from '../../app/policy/policy-schemas';
import {
  agentIdOf,
  pairSites,
  policyFromAgent,
  setPolicyOnAgent,
  writeSeed,
} from '../fixtures/agent-sites';
import { repoPath } from '../fixtures/paths';
import { expect, test, type LabAgent } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';
import { PoliciesPage } from '../pages/policies-page';

// The whole week fits: a drag near the window's edge would make FullCalendar scroll the page.
test.use({ viewport: { width: 1440, height: 1300 } });

const LINK = 'Link Headquarters → Recovery DC';
const OFFLINE_DRAFT = `${LINK} (offline) · draft`;

async function keepShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = repoPath(`artifacts/e2e/policies-offline-${name}.png`);
  await page.screenshot({ path, animations: 'disabled', fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

async function expectAgentsState(
  estate: EstatePage,
  agents: readonly LabAgent[],
  state: RegExp,
  timeout?: number,
): Promise<void> {
  await estate.page
    .getByRole('navigation', { name: 'Main navigation' })
    .getByRole('button', { name: 'Estate' })
    .click();
  for (const agent of agents) {
    await expect(estate.agentState(agent.running.address)).toHaveText(state, { timeout });
  }
}

test('offline planning: a draft edited with the agents down survives a console restart and is applied once they are back', async ({
  page,
  context,
  lab,
}, testInfo) => {
  test.setTimeout(300_000);
  const [hq, rdc] = await Promise.all([
    lab.startAgent('Headquarters'),
    lab.startAgent('Recovery DC'),
  ]);
  await pairSites(hq, rdc);
  const target: PolicyTarget = { kind: 'link', peerAgentId: await agentIdOf(rdc) };
  const seed = await writeSeed(await lab.tempDir('seed'), [hq, rdc]);
  const server = await lab.startConsole({ seedFile: seed });

  const estate = new EstatePage(page);
  await estate.open(server.url);
  await expectAgentsState(estate, [hq, rdc], /^Connected$/);
  const policies = new PoliciesPage(page);
  await policies.open();
  await policies.chooseTarget(LINK);

  // Online: draw Tuesday 08:00–12:00 and set its RPO and bandwidth.
  await policies.draw(2, '08:00', '12:00');
  await policies.fillTimeframe('Office', '15', '20');
  await expect(policies.dialog).toBeHidden();
  await expect(policies.event(2, 'Office')).toContainText('08:00 - 12:00');
  await expect(policies.draftStatus).toContainText('Draft from agent version 0');

  // Both sites' agents go down: the console says so.
  await Promise.all([hq.running.stop(), rdc.running.stop()]);
  await expectAgentsState(estate, [hq, rdc], /^Retrying/);
  await policies.open();
  // With its agent gone the link is no longer in the estate; the draft is listed on its own.
  await policies.chooseTarget(OFFLINE_DRAFT);
  await expect(policies.draftStatus).toContainText('agent offline');
  await expect(page.getByRole('button', { name: 'Review and apply…' })).toBeDisabled();

  // Offline edits: move Office to Wednesday 09:00, add Backups on Thursday evening, and an
  // overlap is still refused with no agent to ask.
  const grab = await policies.point(2, '08:00');
  const drop = await policies.point(3, '09:00');
  await policies.drag({ x: grab.x, y: grab.y + 10 }, { x: drop.x, y: drop.y + 10 });
  await expect(policies.event(3, 'Office')).toContainText('09:00 - 13:00');
  await expect(policies.event(2, 'Office')).toHaveCount(0);
  await policies.draw(4, '20:00', '23:00');
  await policies.fillTimeframe('Backups', '1', '200');
  await expect(policies.dialog).toBeHidden();
  await policies.draw(3, '12:00', '14:00');
  await policies.fillTimeframe('Overlapping', '5', '10');
  await expect(policies.dialog.getByRole('alert')).toContainText('overlaps Office');
  await policies.dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(policies.event(4, 'Backups')).toContainText('20:00 - 23:00');
  await expect(policies.draftStatus).toContainText('agent offline');
  await keepShot(page, testInfo, 'edited');

  // The console process restarts on the same settings: a new page finds the offline edits.
  const restarted = await lab.restartConsole(server);
  await page.close();
  const page2 = await context.newPage();
  const estate2 = new EstatePage(page2);
  await estate2.open(restarted.url);
  await expectAgentsState(estate2, [hq, rdc], /^(Retrying|Connecting)/);
  const policies2 = new PoliciesPage(page2);
  await policies2.open();
  await policies2.chooseTarget(OFFLINE_DRAFT);
  await expect(policies2.event(3, 'Office')).toContainText('09:00 - 13:00');
  await expect(policies2.event(4, 'Backups')).toContainText('20:00 - 23:00');
  await expect(policies2.event(2, 'Office')).toHaveCount(0);
  await expect(policies2.draftStatus).toContainText('agent offline');
  await keepShot(page2, testInfo, 'restarted');

  // The agents come back on their data dirs; the console reconnects on its own.
  await Promise.all([lab.restartAgent(hq), lab.restartAgent(rdc)]);
  await expectAgentsState(estate2, [hq, rdc], /^Connected$/, 60_000);
  await policies2.open();
  await policies2.chooseTarget(`${LINK} · draft`);
  await expect(policies2.draftStatus).toHaveText(/^Draft from agent version 0, saved/);

  // Apply with the diff shown; the agent then runs version 1 with exactly those timeframes.
  await page2.getByRole('button', { name: 'Review and apply…' }).click();
  const changes = page2.getByRole('list', { name: 'Changes' });
  await expect(changes).toContainText('Added: Office');
  await expect(changes).toContainText('Wed 09:00–13:00');
  await expect(changes).toContainText('Added: Backups');
  await expect(changes).toContainText('Thu 20:00–23:00');
  await keepShot(page2, testInfo, 'apply');
  await policies2.dialog.getByRole('button', { name: 'Apply' }).click();
  await expect(policies2.dialog).toContainText('the agent now runs policy version 1');
  await policies2.dialog.getByRole('button', { name: 'Close' }).click();
  await expect(policies2.draftStatus).toContainText('No draft: agent version 1');

  const applied = await policyFromAgent(hq, target);
  expect(applied.policy?.version).toBe(1);
  const drawn = (applied.policy?.timeframes ?? []).map((tf) => ({
    name: tf.name,
    days: tf.days,
    start: tf.start,
    end: tf.end,
    rpoTargetSeconds: tf.rpoTargetSeconds,
    replicationBitsPerSecond: tf.replicationBitsPerSecond,
  }));
  expect(drawn.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
    {
      name: 'Backups',
      days: [4],
      start: '20:00',
      end: '23:00',
      rpoTargetSeconds: 60,
      replicationBitsPerSecond: 200_000_000,
    },
    {
      name: 'Office',
      days: [3],
      start: '09:00',
      end: '13:00',
      rpoTargetSeconds: 900,
      replicationBitsPerSecond: 20_000_000,
    },
  ]);

  // Someone else changes the agent's policy while a new draft is open: apply offers a rebase.
  await setPolicyOnAgent(hq, target, {
    ...applied.policy!,
    timeframes: applied.policy!.timeframes.filter((tf) => tf.name !== 'Backups'),
  });
  await policies2.draw(5, '18:00', '20:00');
  await policies2.fillTimeframe('Friday sync', '10', '50');
  await expect(policies2.dialog).toBeHidden();
  await page2.getByRole('button', { name: 'Review and apply…' }).click();
  await expect(policies2.dialog).toContainText('agent now at 2');
  await expect(policies2.dialog.getByRole('button', { name: 'Apply' })).toBeDisabled();
  await keepShot(page2, testInfo, 'conflict');
  await policies2.dialog.getByRole('button', { name: 'Rebase' }).click();
  const rebased = page2.getByRole('list', { name: 'Changes' });
  await expect(rebased).toContainText('Added: Friday sync');
  await expect(rebased).toContainText('Added: Backups');
  await policies2.dialog.getByRole('button', { name: 'Apply' }).click();
  await expect(policies2.dialog).toContainText('the agent now runs policy version 3');
  const after = await policyFromAgent(hq, target);
  expect(after.policy?.version).toBe(3);
  expect(after.policy?.timeframes.map((tf) => tf.name).sort()).toEqual([
    'Backups',
    'Friday sync',
    'Office',
  ]);
});
