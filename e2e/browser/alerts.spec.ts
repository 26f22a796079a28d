import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { join } from 'node:path';
import { AlertSchema } from '../../app/alerts/alert-schemas';
import { VpgStateSchema } from '../../app/protocol/replication-api';
import type { Policy } from '../../app/policy/policy-schemas';
import { callAgent, type AgentEndpoint } from '../fixtures/agent-rpc';
import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { AlertsPage } from '../pages/alerts-page';
import { EstatePage } from '../pages/estate-page';

/**
 * A real RPO alert in the demo lab: the agents run with a 2 s grace period; a VPG policy holds
 * "Business apps" to 8 kbit/s with a 5 s RPO target while its VMs write 256 KiB/s each, so the
 * agent raises an RPO alert; the console lists it, notifies the desktop (the browser's
 * Notification, recorded by an init script: the OS notification cannot be observed), the
 * admin filters and acknowledges it; unbinding the policy lets it clear.
 */

test.use({ viewport: { width: 1440, height: 1000 } });

const GRACE_SECONDS = 2;
const VPG = 'Business apps';

interface Shown {
  title: string;
  body: string;
}

/** Wraps window.Notification so every notification the page creates is recorded. */
function recordNotifications(): void {
  const Real = window.Notification;
  const shown: Shown[] = [];
  const Recording = function (title: string, options?: NotificationOptions) {
    shown.push({ title, body: options?.body ?? '' });
    return new Real(title, options);
  } as unknown as typeof Notification;
  Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
  Object.defineProperty(Recording, 'requestPermission', {
    value: (cb?: NotificationPermissionCallback) => Real.requestPermission(cb),
  });
  Object.defineProperty(window, 'Notification', { value: Recording, configurable: true });
  (window as unknown as { shownNotifications: Shown[] }).shownNotifications = shown;
}

const shownNotifications = (page: Page): Promise<Shown[]> =>
  page.evaluate(() => (window as unknown as { shownNotifications: Shown[] }).shownNotifications);

/** The protected site's agent, from the lab's seed file (first site: Headquarters). */
async function headquarters(dataDir: string): Promise<AgentEndpoint> {
  const seed = JSON.parse(await readFile(join(dataDir, 'console-seed.json'), 'utf8')) as {
    address: string;
    token: string;
    fingerprint: string;
  }[];
  const hq = seed[0];
  if (hq === undefined) throw new Error('the demo lab wrote no seed');
  return {
    port: Number(hq.address.split(':').pop()),
    token: hq.token,
    fingerprint: hq.fingerprint,
  };
}

function squeeze(): Policy {
  return {
    schemaVersion: 1,
    version: 0,
    timeZone: 'UTC',
    default: { rpoTargetSeconds: 5, replicationBitsPerSecond: 8000 },
    timeframes: [
      {
        id: 'squeeze',
        name: 'Squeeze',
        colour: '#e53935',
        days: [1, 2, 3, 4, 5, 6, 7],
        start: '00:00',
        end: '24:00',
        rpoTargetSeconds: 5,
        replicationBitsPerSecond: 8000,
      },
    ],
  };
}

test('an RPO alert: listed, notified on the desktop, filtered, acknowledged, cleared', async ({
  page,
  browser,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const demo = await lab.startDemo({ rpoGraceSeconds: GRACE_SECONDS });
  // Granted here, not in test.use: the second browser below must start unasked.
  await page.context().grantPermissions(['notifications']);
  await page.addInitScript(recordNotifications);
  await new EstatePage(page).open(demo.url);
  const alerts = new AlertsPage(page);
  await alerts.open();
  await expect(alerts.emptyState).toBeVisible();
  await expect(page.getByText('Desktop notifications are on')).toBeVisible();
  await expect(alerts.badge()).toBeHidden();

  // Squeeze the VPG's link: its RPO climbs past the 5 s target.
  const hq = await headquarters(demo.dataDir);
  const vpgs = VpgStateSchema.array().parse(await callAgent(hq, 'vpg.list', {}));
  const vpg = vpgs.find((v) => v.name === VPG);
  expect(vpg, `the demo lab has a VPG "${VPG}"`).toBeDefined();
  // While it seeds no RPO is promised (and none is alerted on): squeeze it once it protects.
  await expect
    .poll(
      async () =>
        VpgStateSchema.array()
          .parse(await callAgent(hq, 'vpg.list', {}))
          .find((v) => v.name === VPG)?.status,
      { timeout: 120_000 },
    )
    .toBe('Protecting');
  const target = { kind: 'vpg', vpgId: vpg!.vpgId };
  await callAgent(hq, 'policy.set', { target, policy: squeeze() });

  const row = alerts.row(VPG);
  await expect(row).toBeVisible({ timeout: 90_000 });
  await expect(row).toHaveAttribute('data-state', 'raised');
  await expect(await alerts.cell(row, 'Timeframe')).toHaveText('Squeeze');
  await expect(await alerts.cell(row, 'Target')).toHaveText('5 s');
  await expect(await alerts.cell(row, 'Ended')).toHaveText('Ongoing');
  await expect(alerts.badge()).toHaveText('1');

  // One desktop notification, with the VPG, the RPO over its target and the timeframe.
  await expect.poll(() => shownNotifications(page)).toHaveLength(1);
  const [shown] = await shownNotifications(page);
  expect(shown?.title).toBe(`RPO alert: ${VPG}`);
  expect(shown?.body).toMatch(/^RPO \d+ s over target 5 s \(Squeeze\)$/);

  // An alert already raised when the page opens is listed, not notified again.
  await page.reload();
  await new EstatePage(page).waitUntilLive();
  await alerts.open();
  await expect(row).toHaveAttribute('data-state', 'raised');
  expect(await shownNotifications(page)).toEqual([]);

  // Filters: the state, acknowledged or not, the VPG, words.
  await alerts.showState('Cleared');
  await expect(alerts.noMatch).toBeVisible();
  await alerts.showState('Raised');
  await expect(row).toBeVisible();
  await alerts.choose('VPG', VPG);
  await expect(row).toBeVisible();
  await alerts.find('Engineering');
  await expect(alerts.noMatch).toBeVisible();
  await alerts.find('squeeze headquarters');
  await expect(row).toBeVisible();
  await alerts.choose('Acknowledged', 'Not acknowledged');
  await expect(row).toBeVisible();

  // Acknowledge: the agent records it, the row and the badge say so.
  await row.getByRole('button', { name: `Acknowledge the alert of ${VPG}` }).click();
  await expect(alerts.noMatch).toBeVisible();
  await alerts.clearFilters();
  await expect(await alerts.cell(row, 'Acknowledged')).not.toHaveText('');
  await expect(row.getByRole('button', { name: /Acknowledge/ })).toHaveCount(0);
  await expect(alerts.badge()).toBeHidden();
  const onAgent = AlertSchema.array().parse(
    await callAgent(hq, 'alert.list', { vpgId: vpg!.vpgId, kind: 'rpo' }),
  );
  expect(onAgent[0]?.acknowledgedAt).toBeDefined();

  // Lift the squeeze: the backlog drains and the agent clears the alert; no new notification.
  await callAgent(hq, 'policy.set', { target, policy: null });
  await expect(row).toHaveAttribute('data-state', 'cleared', { timeout: 90_000 });
  await expect(await alerts.cell(row, 'Ended')).not.toHaveText('Ongoing');
  expect(await shownNotifications(page)).toEqual([]);

  // Squeezed again: a new alert, a new notification, above the cleared one.
  await callAgent(hq, 'policy.set', { target, policy: squeeze() });
  await expect(alerts.table.getByRole('row', { name: `RPO alert ${VPG}` })).toHaveCount(2, {
    timeout: 90_000,
  });
  await expect(alerts.table.locator('tbody tr').first()).toHaveAttribute('data-state', 'raised');
  await expect(alerts.badge()).toHaveText('1');
  await expect.poll(() => shownNotifications(page)).toHaveLength(1);
  const shot = repoPath('artifacts/e2e/alerts.png');
  await page.screenshot({ path: shot, animations: 'disabled' });
  await testInfo.attach('alerts', { path: shot, contentType: 'image/png' });

  // A browser that was never asked: the button asks; a refusal is said plainly.
  const other = await browser.newContext();
  try {
    await other.addCookies(await page.context().cookies());
    const second = await other.newPage();
    await second.goto(new URL('/', demo.url).toString());
    await new EstatePage(second).waitUntilLive();
    const secondAlerts = new AlertsPage(second);
    await secondAlerts.open();
    await expect(secondAlerts.row(VPG)).toHaveCount(2);
    // Headless Chromium refuses when asked, as a browser whose user said no.
    await secondAlerts.enableNotifications.click();
    await expect(second.getByText('This browser blocks notifications')).toBeVisible();
  } finally {
    await other.close();
  }
});
