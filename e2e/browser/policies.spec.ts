import { repoPath } from '../fixtures/paths';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';
import { PoliciesPage } from '../pages/policies-page';

// The whole week fits: a drag near the window's edge would make FullCalendar scroll the page.
test.use({ viewport: { width: 1440, height: 1300 } });

test('a calendar policy: drawn by dragging, moved, an overlap refused, kept as a draft, applied with its diff', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(240_000);
  const demo = await lab.startDemo();
  await new EstatePage(page).open(demo.url);
  const policies = new PoliciesPage(page);
  await policies.open();
  await policies.chooseTarget('Link Headquarters → Recovery DC');

  // Draw Tuesday 08:00–12:00, then name it and set its RPO and bandwidth.
  await policies.draw(2, '08:00', '12:00');
  await expect(policies.dialog.getByLabel('Start')).toHaveValue('08:00');
  await expect(policies.dialog.getByLabel('End')).toHaveValue('12:00');
  await policies.fillTimeframe('Office', '15', '20');
  await expect(policies.dialog).toBeHidden();
  await expect(policies.event(2, 'Office')).toContainText('08:00 - 12:00');
  await expect(policies.draftStatus).toContainText('Draft from agent version 0');

  // Move it to Wednesday, an hour later: our timeframe moves, not just the calendar's copy.
  // Grab 10 px into the event and drop 10 px into Wednesday 09:00: exactly a day and an hour.
  // On a slow CPU (as on a loaded CI box) a page re-render used to land between the drag's
  // last move and FullCalendar's drop, and the move was lost: slow the page down for it.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
  const grab = await policies.point(2, '08:00');
  const drop = await policies.point(3, '09:00');
  await policies.drag({ x: grab.x, y: grab.y + 10 }, { x: drop.x, y: drop.y + 10 });
  await expect(policies.event(3, 'Office')).toContainText('09:00 - 13:00');
  await expect(policies.event(2, 'Office')).toHaveCount(0);

  // A second timeframe over it is refused with the validator's message, naming both.
  await policies.draw(3, '12:00', '15:00');
  await policies.fillTimeframe('Backups', '1', '200');
  await expect(policies.dialog.getByRole('alert')).toContainText('overlaps');
  await expect(policies.dialog.getByRole('alert')).toContainText('Office');
  const shot = repoPath('artifacts/e2e/policies-overlap.png');
  await page.screenshot({ path: shot, animations: 'disabled' });
  await testInfo.attach('overlap refused', { path: shot, contentType: 'image/png' });
  await policies.dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(policies.event(3, 'Backups')).toHaveCount(0);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });

  // The draft is the console's: a reload finds it.
  await page.reload();
  await policies.open();
  await policies.chooseTarget('Link Headquarters → Recovery DC · draft');
  await expect(policies.event(3, 'Office')).toContainText('09:00 - 13:00');
  const weekShot = repoPath('artifacts/e2e/policies-week.png');
  await page.screenshot({ path: weekShot, animations: 'disabled', fullPage: true });
  await testInfo.attach('week with a draft', { path: weekShot, contentType: 'image/png' });

  // Apply: the diff lists the new timeframe, then the agent reports version 1.
  await page.getByRole('button', { name: 'Review and apply…' }).click();
  const changes = page.getByRole('list', { name: 'Changes' });
  await expect(changes).toContainText('Added: Office');
  await expect(changes).toContainText('Wed 09:00–13:00');
  const applyShot = repoPath('artifacts/e2e/policies-apply.png');
  await page.screenshot({ path: applyShot, animations: 'disabled' });
  await testInfo.attach('apply with diff', { path: applyShot, contentType: 'image/png' });
  await policies.dialog.getByRole('button', { name: 'Apply' }).click();
  await expect(policies.dialog).toContainText('the agent now runs policy version 1');
  await policies.dialog.getByRole('button', { name: 'Close' }).click();
  await expect(policies.draftStatus).toContainText('No draft: agent version 1');
});
