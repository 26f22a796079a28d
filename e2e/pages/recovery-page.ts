import { expect, type Locator, type Page } from '@playwright/test';

/** The Recovery page: VPGs with their recovery state, the failover wizard, a failover's live view. */
export class RecoveryPage {
  readonly nav: Locator;
  readonly heading: Locator;
  readonly wizard: FailoverWizard;

  constructor(readonly page: Page) {
    this.nav = page
      .getByRole('navigation', { name: 'Main navigation' })
      .getByRole('button', { name: 'Recovery' });
    this.heading = page.getByRole('heading', { name: 'Recovery', level: 1 });
    this.wizard = new FailoverWizard(page);
  }

  async open(): Promise<void> {
    await this.nav.click();
    await expect(this.heading).toBeVisible();
  }

  row(vpgName: string): Locator {
    return this.page.getByRole('row', { name: `VPG ${vpgName}`, exact: true });
  }

  /** The banner for a protected site with no connected agent. */
  unreachableBanner(siteName: string): Locator {
    return this.page.getByRole('alert', { name: `Protected site ${siteName} unreachable` });
  }

  async openWizard(vpgName: string): Promise<FailoverWizard> {
    await this.row(vpgName)
      .getByRole('button', { name: `Fail over ${vpgName}…` })
      .click();
    await expect(this.wizard.root).toBeVisible();
    return this.wizard;
  }

  // ── the live view ──
  get phase(): Locator {
    return this.page.getByRole('status', { name: 'Phase' });
  }

  step(name: string): Locator {
    return this.page.getByRole('listitem', { name: `Step ${name}` }).first();
  }

  get steps(): Locator {
    return this.page.getByRole('region', { name: 'Steps' }).getByRole('listitem');
  }

  vm(name: string): Locator {
    return this.page.getByRole('row', { name: `VM ${name}`, exact: true });
  }

  get vms(): Locator {
    return this.page
      .getByRole('table', { name: 'Recovered VMs' })
      .getByRole('row', { name: /^VM / });
  }

  async backToList(): Promise<void> {
    await this.page.getByRole('button', { name: 'All VPGs' }).click();
    await expect(this.heading).toBeVisible();
  }
}

/** The failover wizard (a dialog with a stepper). */
export class FailoverWizard {
  readonly root: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: /^Fail over/ });
  }

  mode(label: 'Test failover' | 'Live failover' | 'Move (planned)'): Locator {
    return this.root.getByRole('radio', { name: label });
  }

  async next(): Promise<void> {
    await this.root.getByRole('button', { name: 'Next' }).click();
  }

  /** The checkpoint list (after "A specific checkpoint") entry of a named checkpoint. */
  checkpoint(name: string): Locator {
    return this.root.getByRole('button', { name: `Checkpoint ${name}` });
  }

  timelineMark(name: string): Locator {
    return this.root.getByRole('button', { name: `Timeline mark ${name}` });
  }

  summary(): Locator {
    return this.root.getByRole('definition');
  }
}
