import { expect, type Locator, type Page } from '@playwright/test';

/** The Protection page: the VPG list, the "New VPG" wizard, and a VPG's detail. */
export class ProtectionPage {
  readonly nav: Locator;
  readonly heading: Locator;
  readonly newVpgButton: Locator;
  readonly emptyState: Locator;
  readonly vpgTable: Locator;

  constructor(readonly page: Page) {
    this.nav = page
      .getByRole('navigation', { name: 'Main navigation' })
      .getByRole('button', { name: 'Protection' });
    this.heading = page.getByRole('heading', { name: 'Protection', level: 1 });
    this.newVpgButton = page.getByRole('button', { name: 'New VPG' });
    this.emptyState = page.getByRole('heading', { name: 'No VPGs yet' });
    this.vpgTable = page.getByRole('table', { name: 'VPGs' });
  }

  async open(): Promise<void> {
    await this.nav.click();
    await expect(this.heading).toBeVisible();
  }

  async openWizard(): Promise<VpgWizard> {
    await this.newVpgButton.click();
    const wizard = new VpgWizard(this.page);
    await expect(wizard.root).toBeVisible();
    return wizard;
  }

  row(vpgName: string): Locator {
    return this.page.getByRole('row', { name: `VPG ${vpgName}`, exact: true });
  }

  /** The RPO gauge (role meter) of a VPG, in the list or in its detail. */
  gauge(vpgName: string): Locator {
    return this.page.getByRole('meter', { name: `RPO of ${vpgName}`, exact: true });
  }

  /** The gauge's current RPO in seconds, or undefined before the first confirmed checkpoint. */
  async rpoSeconds(vpgName: string): Promise<number | undefined> {
    const now = await this.gauge(vpgName).getAttribute('aria-valuenow');
    return now === null ? undefined : Number(now);
  }

  async openVpg(vpgName: string): Promise<VpgDetail> {
    await this.row(vpgName).getByRole('button', { name: vpgName, exact: true }).click();
    const detail = new VpgDetail(this.page, vpgName);
    await expect(detail.heading).toBeVisible();
    return detail;
  }
}

/** The "New VPG" wizard (a dialog with a stepper). */
export class VpgWizard {
  readonly root: Locator;
  readonly name: Locator;
  readonly protectedSite: Locator;
  readonly vms: Locator;
  readonly recoverySite: Locator;
  readonly recoveryHost: Locator;
  readonly datastore: Locator;
  readonly rpoTarget: Locator;
  readonly next: Locator;
  readonly create: Locator;
  readonly error: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: 'New VPG' });
    this.name = this.root.getByLabel('VPG name');
    this.protectedSite = this.root.getByRole('combobox', { name: 'Protected site' });
    this.vms = this.root.getByRole('table', { name: 'VMs to protect' });
    this.recoverySite = this.root.getByRole('combobox', { name: 'Recovery site' });
    this.recoveryHost = this.root.getByRole('combobox', { name: 'Recovery host' });
    this.datastore = this.root.getByRole('combobox', { name: 'Datastore' });
    this.rpoTarget = this.root.getByLabel('RPO target (seconds)');
    this.next = this.root.getByRole('button', { name: 'Next' });
    this.create = this.root.getByRole('button', { name: 'Create' });
    this.error = this.root.getByRole('alert');
  }

  /** Opens a select and picks an option by its name. */
  async choose(select: Locator, option: string): Promise<void> {
    await select.click();
    const listbox = this.page.getByRole('listbox');
    await listbox.getByRole('option', { name: option }).click();
    await expect(listbox).toBeHidden();
    await expect(select).toContainText(option);
  }

  /** The names of the VMs that can still be chosen (not in a VPG yet). */
  async freeVmNames(): Promise<string[]> {
    const boxes = this.vms.getByRole('checkbox');
    const names: string[] = [];
    for (const box of await boxes.all()) {
      const name = await box.getAttribute('aria-label');
      if (name !== null && name !== 'All VMs' && (await box.isEnabled())) names.push(name);
    }
    return names;
  }

  async chooseVm(name: string): Promise<void> {
    await this.vms.getByRole('checkbox', { name, exact: true }).check();
  }

  async expectClosed(): Promise<void> {
    await expect(this.root).toBeHidden();
  }
}

/** A VPG's detail: live figures, settings, checkpoints. */
export class VpgDetail {
  readonly heading: Locator;
  readonly insertCheckpoint: Locator;
  readonly removeVpg: Locator;
  readonly checkpoints: Locator;

  constructor(
    readonly page: Page,
    readonly vpgName: string,
  ) {
    this.heading = page.getByRole('heading', { name: vpgName, level: 1 });
    // The page header's button (the Checkpoints card repeats it further down).
    this.insertCheckpoint = page.getByRole('button', { name: 'Insert checkpoint' }).first();
    this.removeVpg = page.getByRole('button', { name: 'Remove VPG' });
    this.checkpoints = page.getByRole('table', { name: 'Checkpoints' });
  }

  /** A button of the demo lab's "Simulated write load" group: Idle, 1 MB/s, 5 MB/s, 20 MB/s. */
  simulatedLoad(level: string): Locator {
    return this.page
      .getByRole('group', { name: 'Simulated write load (demo lab)' })
      .getByRole('button', { name: level, exact: true });
  }

  /** A figure of the Live card (Written, Sent, Backlog) as shown. */
  figure(label: string): Locator {
    return this.page
      .getByRole('region', { name: 'Live' })
      .getByRole('term')
      .filter({ hasText: label })
      .locator('xpath=following-sibling::dd[1]');
  }

  /** How many seconds the RPO trend line covers so far. */
  async trendSeconds(): Promise<number> {
    const label = await this.page
      .getByRole('img', { name: /^RPO trend over the last/ })
      .getAttribute('aria-label');
    return Number(/(\d+) seconds/.exec(label ?? '')?.[1] ?? 0);
  }

  checkpoint(name: string): Locator {
    return this.checkpoints.getByRole('row', { name: `Checkpoint ${name}`, exact: true });
  }

  /** Insert checkpoint → name dialog → Insert; the dialog closes at once. */
  async insert(name: string): Promise<void> {
    await this.insertCheckpoint.click();
    const dialog = this.page.getByRole('dialog', { name: 'Insert checkpoint' });
    await expect(dialog).toBeVisible();
    await dialog.getByLabel('Checkpoint name').fill(name);
    await dialog.getByRole('button', { name: 'Insert', exact: true }).click();
    await expect(dialog).toBeHidden();
  }
}
