import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page, TestInfo } from '@playwright/test';
import type { PolicyTarget } from '../../app/policy/policy-schemas';
import type { Peer } from '../../app/protocol';
import { agentIdOf, policyFromAgent, writeSeed } from '../fixtures/agent-sites';
import { repoPath } from '../fixtures/paths';
import { call, startRecoveryLab } from '../fixtures/recovery-lab';
import { expect, test, type LabAgent } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';
import { PoliciesPage } from '../pages/policies-page';

// The whole week fits: a drag near the window's edge would make FullCalendar scroll the page.
test.use({ viewport: { width: 1440, height: 1300 } });

const LINK = 'Link Headquarters → Recovery DC';
const MINUTE = 60_000;
/** What the VPG wrote, every minute of the week its agent measured (4 MB/s = 32 Mbit/s). */
const RATE = 4_000_000;

async function keepShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = repoPath(`artifacts/e2e/planner-${name}.png`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, animations: 'disabled', fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/** A week of measured minutes in the agent's metrics file, as a week of running leaves it. */
async function writeMeasuredWeek(agent: LabAgent, vpgId: string): Promise<void> {
  const dir = join(agent.init.dataDir, 'state', 'metrics');
  const last = Math.floor(Date.now() / MINUTE) * MINUTE - MINUTE;
  const lines: string[] = [];
  for (let t = last - 7 * 24 * 60 * MINUTE + 2 * MINUTE; t <= last; t += MINUTE) {
    lines.push(
      JSON.stringify({
        time: t,
        rpoSeconds: 2,
        rpoTargetSeconds: 30,
        writtenBytesPerSecond: RATE,
        sentBytesPerSecond: RATE,
        backlogBytes: 0,
        journalBytes: 0,
        seconds: 60,
      }),
    );
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${vpgId}.ndjson`), `${lines.join('\n')}\n`);
}

/** RPO alerts of "Business" on two past days, cleared, as the agent keeps them. */
async function writePastAlerts(agent: LabAgent, vpgId: string): Promise<void> {
  const day = 24 * 60 * MINUTE;
  const alert = (n: number) => ({
    alertId: `past-${n}`,
    kind: 'rpo',
    vpgId,
    vpgName: 'File server',
    message: 'RPO above target',
    timeframeName: 'Business',
    rpoTargetSeconds: 300,
    worstRpoSeconds: 1500 + n,
    raisedAt: Date.now() - n * day,
    clearedAt: Date.now() - n * day + 30 * MINUTE,
  });
  await writeFile(
    join(agent.init.dataDir, 'state', 'alerts.json'),
    JSON.stringify({ version: 1, alerts: [alert(2), alert(3)] }),
  );
}

async function expectAgents(estate: EstatePage, agents: readonly LabAgent[], state: RegExp) {
  await estate.page
    .getByRole('navigation', { name: 'Main navigation' })
    .getByRole('button', { name: 'Estate' })
    .click();
  for (const agent of agents) {
    await expect(estate.agentState(agent.running.address)).toHaveText(state, { timeout: 60_000 });
  }
}

test('the planner: a draft predicted offline from measured rates, the suggested bandwidth taken, the prediction green, applied once the agents are back', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(300_000);
  const recovery = await startRecoveryLab(lab, 'File server');
  let { hq, dr } = recovery;
  // A week the agent measured: stop it, leave the minutes it would have kept, start it again.
  await hq.running.stop();
  await writeMeasuredWeek(hq, recovery.vpgId);
  await writePastAlerts(hq, recovery.vpgId);
  hq = await lab.restartAgent(hq);
  const target: PolicyTarget = { kind: 'link', peerAgentId: await agentIdOf(dr) };
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [hq, dr]),
  });

  const estate = new EstatePage(page);
  await estate.open(server.url);
  await expectAgents(estate, [hq, dr], /^Connected$/);
  // The same timeframe missed on two days: the Alerts page leads to the link's policy.
  await page
    .getByRole('navigation', { name: 'Main navigation' })
    .getByRole('button', { name: 'Alerts' })
    .click();
  const repeated = page.getByTestId('repeated-misses');
  await expect(repeated).toContainText(
    '“Business” missed its 5 min target on 2 of the last 7 days',
  );
  await repeated.getByRole('button', { name: 'See what would prevent it' }).click();
  const policies = new PoliciesPage(page);
  await expect(policies.heading).toBeVisible();
  await expect(page.getByText(LINK, { exact: true }).first()).toBeVisible();
  const source = page.getByTestId('planning-source');
  await expect(source).toContainText('Rates measured by the agent');

  // Monday's business hours at 16 Mbit/s with a 5 min RPO: half what the VPG writes.
  await policies.draw(1, '09:00', '17:00');
  await policies.fillTimeframe('Business', '5', '16');
  await expect(policies.dialog).toBeHidden();
  await expect(policies.draftStatus).toContainText('Draft from agent version 0');
  // The planner, from the measured week, names what would have prevented those alerts.
  await expect(page.getByTestId('repeated-miss')).toContainText(
    '32 Mbit/s would have held it (now 16 Mbit/s)',
  );

  // Both agents stop; a fresh page opens the draft and plans from what the console kept.
  await Promise.all([hq.running.stop(), dr.running.stop()]);
  await expectAgents(estate, [hq, dr], /^Retrying/);
  await page.reload();
  await policies.open();
  await policies.chooseTarget(`${LINK} (offline) · draft`);
  await expect(source).toContainText('kept by the console');
  const card = page
    .getByRole('region', { name: 'Predicted RPO' })
    .getByLabel('Prediction for Business');
  await expect(card).toHaveAttribute('data-verdict', 'missed');
  await expect(card).toContainText('Would raise');
  await expect(card.getByTestId('least-bandwidth')).toContainText('Needs at least 32 Mbit/s');
  // Before and after: unlimited now (the RPO stays at the 2 s interval), hours with the draft.
  await expect(card.getByTestId('before-after')).toContainText('At these times now: worst 2 s');
  await expect(policies.event(1, 'Business')).toHaveClass(/tl-verdict-missed/);
  await expect(page.getByTestId('prediction-chart').locator('svg').first()).toBeVisible();
  await keepShot(page, testInfo, 'missed');

  // Take the suggestion: the draft changes, the prediction turns green.
  await card.getByRole('button', { name: 'Use 32 Mbit/s for Business' }).click();
  await expect(card).toHaveAttribute('data-verdict', 'met');
  await expect(policies.event(1, 'Business')).toHaveClass(/tl-verdict-met/);
  await keepShot(page, testInfo, 'met');

  // The agents come back: the draft is applied with the bandwidth the planner found.
  [hq, dr] = await Promise.all([lab.restartAgent(hq), lab.restartAgent(dr)]);
  await expectAgents(estate, [hq, dr], /^Connected$/);
  await policies.open();
  await policies.chooseTarget(`${LINK} · draft`);
  await page.getByRole('button', { name: 'Review and apply…' }).click();
  await policies.dialog.getByRole('button', { name: 'Apply' }).click();
  await expect(policies.dialog).toContainText('the agent now runs policy version 1');
  await policies.dialog.getByRole('button', { name: 'Close' }).click();
  const applied = await policyFromAgent(hq, target);
  expect(applied.policy?.timeframes.map((t) => [t.name, t.replicationBitsPerSecond])).toEqual([
    ['Business', 32_000_000],
  ]);

  // The link set to compress, with text going over it: planned on its share of the writes.
  const drId = await agentIdOf(dr);
  const vmId = recovery.vms[0]?.vmId as string;
  await call(hq, 'site.setLinkCompression', { agentId: drId, compression: 'lz4' });
  await call(hq, 'vm.setWorkload', { vmId, bytesPerSecond: 8 * 2 ** 20, content: 'text' });
  await expect
    .poll(
      async () =>
        (await call<Peer[]>(hq, 'site.peers')).find((p) => p.agentId === drId)?.traffic
          ?.recordBytes ?? 0,
      { timeout: 60_000 },
    )
    .toBeGreaterThan(24 * 2 ** 20);
  await call(hq, 'vm.setWorkload', { vmId, bytesPerSecond: 0 });
  await page
    .getByRole('region', { name: 'Predicted RPO' })
    .getByRole('button', { name: 'Refresh' })
    .click();
  await expect(source).toContainText(/LZ4: [1-6]\d % of the writes on the wire/);
  // Text goes on the wire at about half: so does the bandwidth the 32 Mbit/s of writes need.
  await expect(card.getByTestId('least-bandwidth')).toContainText(/Needs at least 1[2-9] Mbit\/s/);
  await keepShot(page, testInfo, 'lz4');
});
