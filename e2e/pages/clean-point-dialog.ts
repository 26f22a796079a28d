import { expect, type Locator, type Page } from '@playwright/test';

/** "Find the last clean point" of a VPG (Recovery page): a guided bisection by test failovers. */
export class CleanPointDialog {
  readonly root: Locator;
  /** The proposed checkpoint's facts; data-seq is its seq. */
  readonly candidate: Locator;
  /** The test under way, once its VMs are up: the verdict buttons. */
  readonly testUp: Locator;
  readonly answer: Locator;
  readonly sparkline: Locator;
  /** The Recovery page's header button (one VPG: opens on it). */
  readonly open: Locator;

  constructor(
    readonly page: Page,
    vpgName: string,
  ) {
    this.root = page.getByRole('dialog', { name: `Find the last clean point of ${vpgName}` });
    this.open = page.getByRole('button', { name: 'Find the last clean point…', exact: true });
    this.candidate = this.root.getByLabel('Candidate', { exact: true });
    this.testUp = this.root.getByRole('region', { name: /^The test VMs of .* are up$/ });
    this.answer = this.root.getByRole('status', { name: 'Answer' });
    this.sparkline = this.root.getByRole('group', { name: 'Change per checkpoint' });
  }

  /** Picks a range end by the text of its option (e.g. a checkpoint's name). */
  async pickRange(end: 'From' | 'To', option: string): Promise<void> {
    await this.root.getByRole('combobox', { name: end }).click();
    await this.page.getByRole('option', { name: new RegExp(`^${option} ·`) }).click();
    await expect(this.page.getByRole('listbox')).toBeHidden();
  }

  /** A fact of the search: "Last tested clean", "Untested between them", "Tests left, at most"… */
  fact(label: string): Locator {
    return this.root.getByRole('group', { name: label, exact: true });
  }

  verdict(checkpoint: string): Locator {
    return this.root.getByLabel(`Verdict ${checkpoint}`, { exact: true });
  }

  async candidateSeq(): Promise<number> {
    return Number(await this.candidate.getAttribute('data-seq'));
  }
}
