import { expect, type Locator, type Page } from '@playwright/test';

/**
 * The tasks drawer along the foot of every page (a bar "Tasks · N running" that opens into a
 * panel of every connected agent's tasks), a task's details, and a VPG's Task history card.
 * Rows are named "Task <type in words> <VPG>" ("Task Initial sync Payroll"); the newest first.
 */
export class TasksDrawer {
  readonly root: Locator;
  readonly toggle: Locator;
  readonly table: Locator;
  readonly details: TaskDetails;

  constructor(readonly page: Page) {
    this.root = page.getByRole('region', { name: 'Tasks', exact: true });
    this.toggle = this.root.getByRole('button', { name: /^Tasks · \d+ running$/ });
    this.table = this.root.getByRole('table', { name: 'Tasks of the connected agents' });
    this.details = new TaskDetails(page);
  }

  async open(): Promise<void> {
    if ((await this.toggle.getAttribute('aria-expanded')) !== 'true') await this.toggle.click();
    await expect(this.table).toBeVisible();
  }

  async close(): Promise<void> {
    if ((await this.toggle.getAttribute('aria-expanded')) === 'true') await this.toggle.click();
    await expect(this.table).toBeHidden();
  }

  /** How many tasks run now, as the bar says. */
  async runningCount(): Promise<number> {
    const name = (await this.toggle.getAttribute('aria-label')) ?? '';
    return Number(/(\d+) running/.exec(name)?.[1] ?? NaN);
  }

  /** Every task row shown (not the header). */
  get rows(): Locator {
    return this.table.locator('tbody').getByRole('row', { name: /^Task / });
  }

  /** The newest row of this task type (in words) and VPG. */
  row(type: string, vpgName?: string): Locator {
    return rowOf(this.table, type, vpgName);
  }

  /** Running, Failed or All. */
  async show(which: 'Running' | 'Failed' | 'All'): Promise<void> {
    const button = this.root
      .getByRole('group', { name: 'Show tasks' })
      .getByRole('button', { name: which, exact: true });
    await button.click();
    await expect(button).toHaveAttribute('aria-pressed', 'true');
  }

  async find(text: string): Promise<void> {
    await this.root.getByRole('textbox', { name: 'Find' }).fill(text);
  }

  async openDetails(type: string, vpgName?: string): Promise<TaskDetails> {
    return openDetails(this.row(type, vpgName), this.details);
  }
}

/** A VPG's Task history card (its detail page): the same rows, that VPG's only. */
export class TaskHistory {
  readonly root: Locator;
  readonly table: Locator;
  readonly details: TaskDetails;

  constructor(readonly page: Page) {
    this.root = page.getByRole('region', { name: 'Task history', exact: true });
    this.table = this.root.getByRole('table', { name: 'Task history' });
    this.details = new TaskDetails(page);
  }

  row(type: string): Locator {
    return rowOf(this.table, type);
  }

  get rows(): Locator {
    return this.table.locator('tbody').getByRole('row', { name: /^Task / });
  }

  async openDetails(type: string): Promise<TaskDetails> {
    return openDetails(this.row(type), this.details);
  }
}

/** A task's details dialog: state, steps, exception, Abort. */
export class TaskDetails {
  readonly root: Locator;
  readonly state: Locator;
  readonly steps: Locator;
  readonly exception: Locator;
  readonly abort: Locator;
  /** The agent's refusal of an abort. */
  readonly abortRefusal: Locator;

  constructor(readonly page: Page) {
    this.root = page.getByRole('dialog', { name: /^Task / });
    this.state = this.root.getByTestId('task-state');
    this.steps = this.root.getByRole('listitem', { name: /^Step / });
    this.exception = this.root.getByTestId('task-exception');
    this.abort = this.root.getByRole('button', { name: 'Abort task' });
    this.abortRefusal = this.root.getByRole('alert').filter({ hasText: 'did not abort' });
  }

  step(name: string): Locator {
    return this.root.getByRole('listitem', { name: `Step ${name}`, exact: true });
  }

  async close(): Promise<void> {
    await this.root.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(this.root).toBeHidden();
  }
}

function rowOf(table: Locator, type: string, vpgName?: string): Locator {
  const name = vpgName === undefined ? `Task ${type}` : `Task ${type} ${vpgName}`;
  return table.getByRole('row', { name, exact: vpgName !== undefined }).first();
}

async function openDetails(row: Locator, details: TaskDetails): Promise<TaskDetails> {
  await row.getByRole('button', { name: /^Details of / }).click();
  await expect(details.root).toBeVisible();
  return details;
}
