import { expect, type Locator, type Page } from '@playwright/test';

/** The two-step "Add agent" dialog: address and token, then the certificate to trust. */
export class AddAgentDialog {
  readonly root: Locator;
  readonly address: Locator;
  readonly token: Locator;
  readonly next: Locator;
  readonly back: Locator;
  readonly trustAndConnect: Locator;
  readonly cancel: Locator;
  /** The API error shown in the dialog (MUI Alert, role alert); explanations use role note. */
  readonly error: Locator;
  readonly fingerprintBlock: Locator;

  constructor(page: Page) {
    this.root = page.getByRole('dialog', { name: 'Add agent' });
    this.address = this.root.getByLabel('Agent address');
    this.token = this.root.getByLabel('Admin token');
    this.next = this.root.getByRole('button', { name: 'Next' });
    this.back = this.root.getByRole('button', { name: 'Back' });
    this.trustAndConnect = this.root.getByRole('button', { name: 'Trust and connect' });
    this.cancel = this.root.getByRole('button', { name: 'Cancel' });
    this.error = this.root.getByRole('alert');
    this.fingerprintBlock = this.root.getByRole('group', { name: 'Certificate fingerprint' });
  }

  async enterConnection(address: string, token: string): Promise<void> {
    await this.address.fill(address);
    await this.token.fill(token);
  }

  /** Step (a) → (b): the console probes the agent and shows its certificate. */
  async continueToCertificate(): Promise<void> {
    await this.next.click();
    await expect(this.fingerprintBlock).toBeVisible();
  }

  /** The fingerprint as shown (grouped in lines), back in its AB:CD:… form. */
  async shownFingerprint(): Promise<string> {
    const text = await this.fingerprintBlock.innerText();
    return text.trim().split(/\s+/).join(':');
  }

  async expectClosed(): Promise<void> {
    await expect(this.root).toBeHidden();
  }
}
