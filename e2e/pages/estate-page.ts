import { expect, type Locator, type Page } from '@playwright/test';
import { AddAgentDialog } from './add-agent-dialog';
import { PairSitesDialog } from './pair-sites-dialog';

/** The Estate page and the app shell around it. */
export class EstatePage {
  readonly heading: Locator;
  readonly consoleStatus: Locator;
  readonly addAgentButton: Locator;
  readonly pairSitesButton: Locator;
  readonly emptyState: Locator;
  /** The "Site pairings" card. */
  readonly pairings: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { name: 'Estate', level: 1 });
    this.consoleStatus = page.getByRole('status', { name: 'Console connection' });
    this.addAgentButton = page.getByRole('button', { name: 'Add agent' });
    this.pairSitesButton = page.getByRole('button', { name: 'Pair sites' });
    this.pairings = page.getByRole('region', { name: 'Site pairings', exact: true });
    this.emptyState = page.getByRole('heading', { name: 'No agents yet' });
  }

  /** Opens the console's one-time URL (once per browser context) and waits for the live link. */
  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.waitUntilLive();
  }

  async waitUntilLive(): Promise<void> {
    await expect(this.heading).toBeVisible();
    await expect(this.consoleStatus).toHaveText('Console connected');
    await expect(this.page.getByText('Loading the estate…')).toBeHidden();
  }

  async openAddAgent(): Promise<AddAgentDialog> {
    await this.addAgentButton.click();
    const dialog = new AddAgentDialog(this.page);
    await expect(dialog.root).toBeVisible();
    return dialog;
  }

  /** The whole happy path of the dialog; returns the fingerprint it showed. */
  async addAgent(address: string, token: string): Promise<string> {
    const dialog = await this.openAddAgent();
    await dialog.enterConnection(address, token);
    await dialog.continueToCertificate();
    const shown = await dialog.shownFingerprint();
    await dialog.trustAndConnect.click();
    await dialog.expectClosed();
    return shown;
  }

  /** Remove, then confirm in the dialog. */
  async removeAgent(address: string): Promise<void> {
    await this.agent(address).getByRole('button', { name: 'Remove' }).click();
    const confirm = this.page.getByRole('dialog', { name: `Remove agent ${address}?` });
    await expect(confirm).toContainText('keeps running');
    await confirm.getByRole('button', { name: 'Remove agent' }).click();
    await expect(confirm).toBeHidden();
  }

  async openPairSites(): Promise<PairSitesDialog> {
    await this.pairSitesButton.click();
    const dialog = new PairSitesDialog(this.page);
    await expect(dialog.root).toBeVisible();
    return dialog;
  }

  /** One pairing in the "Site pairings" card, e.g. "Headquarters ⇄ Recovery DC". */
  pairing(siteName: string, peerSiteName: string): Locator {
    return this.pairings.getByRole('listitem', {
      name: `${siteName} ⇄ ${peerSiteName}`,
      exact: true,
    });
  }

  /** Its link chip: Connected, Connecting…, Disconnected. */
  pairingLink(siteName: string, peerSiteName: string): Locator {
    return this.pairing(siteName, peerSiteName).getByRole('status');
  }

  site(name: string): Locator {
    return this.page.getByRole('region', { name, exact: true });
  }

  agent(address: string): Locator {
    return this.page.getByRole('listitem', { name: `Agent ${address}`, exact: true });
  }

  /** The agent's connection chip: Connected, Connecting…, Retrying in …, Unauthorized, … */
  agentState(address: string): Locator {
    return this.agent(address).getByRole('status');
  }

  vmTable(siteName: string): Locator {
    return this.page.getByRole('table', { name: `Virtual machines at ${siteName}`, exact: true });
  }

  hostTable(siteName: string): Locator {
    return this.page.getByRole('table', { name: `Hosts at ${siteName}`, exact: true });
  }

  /** VM rows of a site (the header row excluded). */
  vmRows(siteName: string): Locator {
    return this.vmTable(siteName).getByRole('rowheader');
  }

  async expectVms(siteName: string, names: readonly string[]): Promise<void> {
    await expect(this.vmRows(siteName)).toHaveCount(names.length);
    for (const name of names)
      await expect(this.vmTable(siteName).getByText(name, { exact: true })).toBeVisible();
  }
}
