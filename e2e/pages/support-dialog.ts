import { expect, type Download, type Locator, type Page } from '@playwright/test';

/** The "Support bundle" dialog: agents, range, detail, parts; Collect, progress, Save bundle. */
export class SupportDialog {
  readonly root: Locator;
  readonly collect: Locator;
  readonly save: Locator;
  readonly progress: Locator;
  readonly saved: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: 'Support bundle' });
    this.collect = this.root.getByRole('button', { name: 'Collect' });
    this.save = this.root.getByRole('button', { name: 'Save bundle' });
    this.progress = this.root.getByTestId('support-progress');
    this.saved = this.root.getByTestId('support-saved');
  }

  static async open(page: Page): Promise<SupportDialog> {
    await page.getByRole('button', { name: 'Support bundle…' }).click();
    const dialog = new SupportDialog(page);
    await expect(dialog.root).toBeVisible();
    return dialog;
  }

  agent(name: string): Locator {
    return this.root.getByRole('checkbox', { name });
  }

  /** Clicks Save bundle once it is ready and returns the browser's download. */
  async download(): Promise<Download> {
    await expect(this.save).toBeEnabled({ timeout: 60_000 });
    const downloading = this.page.waitForEvent('download');
    await this.save.click();
    return downloading;
  }
}
