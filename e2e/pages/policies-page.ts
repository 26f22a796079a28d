import { expect, type Locator, type Page } from '@playwright/test';

/** The Policies page: target picker, FullCalendar week, timeframe dialog, apply dialog. */
export class PoliciesPage {
  readonly nav: Locator;
  readonly heading: Locator;
  readonly calendar: Locator;
  readonly dialog: Locator;
  readonly refusal: Locator;
  readonly draftStatus: Locator;

  constructor(readonly page: Page) {
    this.nav = page
      .getByRole('navigation', { name: 'Main navigation' })
      .getByRole('button', { name: 'Policies' });
    this.heading = page.getByRole('heading', { name: 'Policies', level: 1 });
    this.calendar = page.getByTestId('policy-calendar');
    this.dialog = page.getByRole('dialog');
    this.refusal = page.getByRole('alert').filter({ hasText: 'overlaps' });
    this.draftStatus = page.getByTestId('draft-status');
  }

  async open(): Promise<void> {
    await this.nav.click();
    await expect(this.heading).toBeVisible();
  }

  async chooseTarget(label: string | RegExp): Promise<void> {
    await this.page.getByLabel('Policy for').click();
    await this.page.getByRole('option', { name: label }).click();
    await expect(this.calendar.locator('.fc-timegrid-slot-lane').first()).toBeVisible();
    // The menu's invisible backdrop fades out after the choice: a press on the calendar
    // meanwhile lands on it (and drags a text selection instead of a timeframe).
    await expect(this.page.locator('.MuiPopover-root, .MuiMenu-root')).toHaveCount(0);
  }

  /** The day column of the reference week (Monday 2024-01-01 = day 1). */
  column(day: number): Locator {
    return this.calendar.locator(`.fc-timegrid-col[data-date="2024-01-0${day}"]`);
  }

  /** Where in `day`'s column a time of day is, e.g. "08:00" (slots are one hour). */
  async point(day: number, time: string): Promise<{ x: number; y: number }> {
    const [h, m] = time.split(':').map(Number);
    const hour = String(h).padStart(2, '0');
    const lane = this.calendar.locator(`td.fc-timegrid-slot-lane[data-time="${hour}:00:00"]`);
    const col = await this.column(day).boundingBox();
    const row = await lane.boundingBox();
    if (col === null || row === null) throw new Error(`no slot for day ${day} ${time}`);
    return { x: col.x + col.width / 2, y: row.y + (row.height * (m ?? 0)) / 60 + 2 };
  }

  /** Press at `from`, move in steps, release at `to` (FullCalendar needs real pointer moves). */
  async drag(from: { x: number; y: number }, to: { x: number; y: number }): Promise<void> {
    const mouse = this.page.mouse;
    await mouse.move(from.x, from.y);
    await mouse.down();
    await mouse.move(from.x + 2, from.y + 4, { steps: 3 });
    await mouse.move(to.x, to.y, { steps: 12 });
    await mouse.up();
    // FullCalendar ends a drag in a timer after the release: until then it shows its own
    // preview of the drop, which is not yet our timeframe.
    await expect(this.calendar.locator('.fc-event-mirror, .fc-event-dragging')).toHaveCount(0);
  }

  /**
   * Select `start`–`end` on `day` ("HH:MM") by dragging upwards from just before `end`: the
   * press lands on empty time even when the top of the range is covered by an event.
   */
  async draw(day: number, start: string, end: string): Promise<void> {
    const top = await this.point(day, start);
    const bottom = await this.point(day, end);
    await this.drag({ x: bottom.x, y: bottom.y - 6 }, top);
    await expect(this.dialog).toBeVisible();
  }

  event(day: number, name: string): Locator {
    return this.column(day).locator('.fc-event').filter({ hasText: name });
  }

  async fillTimeframe(name: string, rpoMinutes: string, mbits: string): Promise<void> {
    await this.dialog.getByLabel('Name').fill(name);
    await this.dialog.getByRole('textbox', { name: 'RPO target', exact: true }).fill(rpoMinutes);
    await this.chooseUnit('RPO target unit', 'min');
    await this.chooseUnit('Replication bandwidth unit', 'Mbit/s');
    await this.dialog
      .getByRole('textbox', { name: 'Replication bandwidth', exact: true })
      .fill(mbits);
    await this.dialog.getByRole('button', { name: 'Save' }).click();
  }

  private async chooseUnit(label: string, unit: string): Promise<void> {
    await this.dialog.getByRole('combobox', { name: label }).click();
    await this.page.getByRole('option', { name: unit, exact: true }).click();
  }
}
