import { expect, type Locator, type Page } from '@playwright/test';

/** The Alerts page: filters, the alerts table, acknowledging, desktop notifications. */
export class AlertsPage {
  readonly nav: Locator;
  readonly heading: Locator;
  readonly table: Locator;
  readonly emptyState: Locator;
  readonly noMatch: Locator;
  readonly enableNotifications: Locator;
  readonly filters: Locator;

  constructor(readonly page: Page) {
    this.nav = page
      .getByRole('navigation', { name: 'Main navigation' })
      .getByRole('button', { name: 'Alerts' });
    this.heading = page.getByRole('heading', { name: 'Alerts', level: 1 });
    this.table = page.getByRole('table', { name: 'Alerts' });
    this.emptyState = page.getByRole('heading', { name: 'No alerts', exact: true });
    this.noMatch = page.getByRole('heading', { name: 'No alerts match these filters' });
    this.enableNotifications = page.getByRole('button', { name: 'Enable desktop notifications' });
    this.filters = page.getByRole('search', { name: 'Filter alerts' });
  }

  async open(): Promise<void> {
    await this.nav.click();
    await expect(this.heading).toBeVisible();
  }

  /** The nav badge: how many raised alerts nobody acknowledged ("" when none). */
  badge(): Locator {
    return this.nav.locator('.MuiBadge-badge');
  }

  row(vpgName: string, kind = 'RPO'): Locator {
    return this.table.getByRole('row', { name: `${kind} alert ${vpgName}`, exact: true });
  }

  cell(row: Locator, column: string): Promise<Locator> {
    return columnCell(this.table, row, column);
  }

  async showState(state: 'All' | 'Raised' | 'Cleared'): Promise<void> {
    await this.filters.getByRole('button', { name: state, exact: true }).click();
  }

  async choose(filter: 'Acknowledged' | 'VPG' | 'Site', option: string): Promise<void> {
    await this.filters.getByRole('combobox', { name: filter }).click();
    await this.page.getByRole('option', { name: option, exact: true }).click();
  }

  async find(text: string): Promise<void> {
    await this.filters.getByRole('searchbox', { name: 'Find' }).fill(text);
  }

  async clearFilters(): Promise<void> {
    await this.filters.getByRole('button', { name: 'Clear filters' }).click();
  }
}

/** A row's cell under the column headed `column`. */
async function columnCell(table: Locator, row: Locator, column: string): Promise<Locator> {
  const headers = await table.getByRole('columnheader').allTextContents();
  const index = headers.indexOf(column);
  if (index === -1) throw new Error(`no column "${column}" in ${headers.join(', ')}`);
  return row.locator('th, td').nth(index);
}
