import { expect, type Locator, type Page } from '@playwright/test';

/** The "Pair sites" dialog: the protected and the recovery site, then Pair. */
export class PairSitesDialog {
  readonly root: Locator;
  readonly protectedSite: Locator;
  readonly recoverySite: Locator;
  readonly pair: Locator;
  readonly done: Locator;
  readonly cancel: Locator;
  /** The API error (ErrorAlert, role alert); the success Alert is role alert as well. */
  readonly alert: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: 'Pair sites' });
    this.protectedSite = this.root.getByRole('combobox', { name: 'Protected site' });
    this.recoverySite = this.root.getByRole('combobox', { name: 'Recovery site' });
    this.pair = this.root.getByRole('button', { name: 'Pair', exact: true });
    this.done = this.root.getByRole('button', { name: 'Done' });
    this.cancel = this.root.getByRole('button', { name: 'Cancel' });
    this.alert = this.root.getByRole('alert');
  }

  /** Opens a select and picks the site by its name. */
  async choose(select: Locator, siteName: string): Promise<void> {
    await select.click();
    const listbox = this.page.getByRole('listbox');
    await listbox.getByRole('option', { name: siteName }).click();
    await expect(listbox).toBeHidden();
    await expect(select).toHaveText(siteName);
  }

  async expectClosed(): Promise<void> {
    await expect(this.root).toBeHidden();
  }
}
