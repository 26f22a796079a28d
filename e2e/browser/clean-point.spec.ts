import type { Page, TestInfo } from '@playwright/test';
import { agentMethods } from '../../app/protocol/agent-api';
import { cleanPointSearch, type CleanPointRange } from '../../app/recovery/clean-point';
import { writeSeed } from '../fixtures/agent-sites';
import { expect, test } from '../fixtures/lab';
import { repoPath } from '../fixtures/paths';
import {
  call,
  insertNamedCheckpoint,
  recoveredVmNames,
  startRecoveryLab,
  type RecoveryLab,
} from '../fixtures/recovery-lab';
import { CleanPointDialog } from '../pages/clean-point-dialog';
import { EstatePage } from '../pages/estate-page';
import { ProtectionPage } from '../pages/protection-page';
import { RecoveryPage } from '../pages/recovery-page';

test.use({ viewport: { width: 1440, height: 1000 } });

const NAMES = ['cp-1', 'cp-2', 'cp-3', 'cp-4', 'cp-5', 'cp-6'] as const;
/** The oracle: the "incident" struck after this checkpoint; it and everything before is clean. */
const LAST_CLEAN = 'cp-3';

async function keepShot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = repoPath(`artifacts/e2e/${name}.png`);
  await page.screenshot({ path, animations: 'disabled', fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
}

/** The recovery site's checkpoints, straight from its agent (not through the console). */
async function recoveryCheckpoints(rl: RecoveryLab) {
  return agentMethods['checkpoint.list'].result.parse(
    await call(rl.dr, 'checkpoint.list', { vpgId: rl.vpgId }),
  );
}

test('finding the last clean point: test failovers at the proposed checkpoints, marked clean or not, until the known answer; then fail over to it', async ({
  page,
  lab,
}, testInfo) => {
  test.setTimeout(420_000);
  const rl = await startRecoveryLab(lab, 'Payroll');
  // A quiet VM until cp-3, then one that writes hard (what an encryption run looks like to the
  // figures, where the agents measure them). The search itself goes by the verdicts only.
  const load = (bytesPerSecond: number) =>
    call(rl.hq, 'vm.setWorkload', { vmId: rl.vms[0]!.vmId, bytesPerSecond });
  await load(32 * 1024);
  const seqs: Record<string, number> = {};
  for (const name of NAMES) {
    seqs[name] = (await insertNamedCheckpoint(rl, name)).seq;
    if (name === LAST_CLEAN) await load(3 * 1024 * 1024);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const cleanUpTo = seqs[LAST_CLEAN]!;
  const server = await lab.startConsole({
    seedFile: await writeSeed(await lab.tempDir('seed'), [rl.hq, rl.dr]),
  });
  await new EstatePage(page).open(server.url);
  const recovery = new RecoveryPage(page);
  await recovery.open();
  await keepShot(page, testInfo, 'clean-point-row');

  // The page header's action: with one VPG it opens on it.
  const dialog = new CleanPointDialog(page, 'Payroll');
  await dialog.open.click();
  await expect(dialog.root).toBeVisible();
  await expect(dialog.sparkline).toBeVisible();
  // The facts the figures give, or plainly that there are none: never a guessed label.
  await expect(
    dialog.sparkline
      .getByText('No change figures for these checkpoints')
      .or(dialog.sparkline.getByText('High-entropy share of written blocks')),
  ).toBeVisible();
  await expect(dialog.root.getByLabel('Run a check script in the test VMs')).toBeDisabled();
  await expect(dialog.root).toContainText(
    'The hypervisor of Recovery DC (sim) cannot run a command in a test VM.',
  );

  await dialog.pickRange('From', 'cp-1');
  await dialog.pickRange('To', 'cp-6');
  const range: CleanPointRange = { fromSeq: seqs['cp-1'], toSeq: seqs['cp-6'] };
  const n = cleanPointSearch(await recoveryCheckpoints(rl), range).checkpoints.length;
  expect(n).toBeGreaterThanOrEqual(NAMES.length);
  await expect(dialog.fact('Untested between them')).toContainText(String(n));
  await expect(dialog.fact('Tests left, at most')).toContainText(
    String(Math.ceil(Math.log2(n + 1))),
  );

  const proposed: number[] = [];
  for (;;) {
    await expect(dialog.candidate.or(dialog.answer)).toBeVisible({ timeout: 30_000 });
    if (await dialog.answer.isVisible()) break;
    // The console proposes what the marks at the recovery site say, within the bounds.
    const expected = cleanPointSearch(await recoveryCheckpoints(rl), range);
    const seq = await dialog.candidateSeq();
    expect(seq).toBe(expected.candidate?.seq);
    expect(seq).toBeGreaterThan(expected.bounds.clean?.seq ?? 0);
    expect(seq).toBeLessThan(expected.bounds.notClean?.seq ?? Infinity);
    expect(proposed).not.toContain(seq);
    proposed.push(seq);
    expect(proposed.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)) + 1);

    await dialog.root.getByRole('button', { name: 'Test this checkpoint' }).click();
    await expect(dialog.testUp).toBeVisible({ timeout: 120_000 });
    await expect(
      dialog.testUp.getByRole('list', { name: 'Test VMs' }).getByRole('listitem'),
    ).toHaveCount(2);
    expect(await recoveredVmNames(rl)).toHaveLength(2);
    const clean = seq <= cleanUpTo;
    if (proposed.length === 1) await keepShot(page, testInfo, 'clean-point-testing');
    await dialog.testUp
      .getByLabel('Note (optional)')
      .fill(clean ? 'File share opens, no encrypted files' : 'Files renamed *.locked');
    await dialog.testUp
      .getByRole('button', { name: clean ? 'Clean' : 'Not clean', exact: true })
      .click();
    // The verdict is on the checkpoint at the recovery site; the test VMs are gone.
    await expect
      .poll(
        async () => (await recoveryCheckpoints(rl)).find((c) => c.seq === seq)?.tested?.result,
        {
          timeout: 60_000,
        },
      )
      .toBe(clean ? 'Passed' : 'Failed');
    await expect.poll(() => recoveredVmNames(rl), { timeout: 30_000 }).toEqual([]);
    await expect(dialog.root.getByLabel(/^Verdict /)).toHaveCount(proposed.length, {
      timeout: 30_000,
    });
  }

  await expect(dialog.answer).toHaveAttribute('data-seq', String(cleanUpTo));
  await expect(dialog.answer).toContainText(`Last clean checkpoint:`);
  await expect(dialog.answer).toContainText(`(${LAST_CLEAN})`);
  await expect(dialog.answer).toContainText('Tested');
  await expect(dialog.fact('Last tested clean')).toContainText(LAST_CLEAN);
  await expect(dialog.fact('Tests left, at most')).toContainText('0');
  await expect(dialog.sparkline.getByLabel(`Marked clean: ${LAST_CLEAN}`)).toBeVisible();
  await keepShot(page, testInfo, 'clean-point');

  // No state of its own: closed and opened again (whole history), the same answer.
  await dialog.root.getByRole('button', { name: 'Close' }).click();
  await expect(dialog.root).toBeHidden();
  await dialog.open.click();
  await expect(dialog.answer).toHaveAttribute('data-seq', String(cleanUpTo));

  // "Fail over to it…": the wizard, live, at that checkpoint.
  await dialog.answer.getByRole('button', { name: 'Fail over to it…' }).click();
  await expect(dialog.root).toBeHidden();
  const wizard = recovery.wizard;
  await expect(wizard.root).toBeVisible();
  await expect(wizard.mode('Live failover')).toHaveAttribute('aria-checked', 'true');
  await wizard.next();
  await expect(wizard.root.getByLabel('A specific checkpoint')).toBeChecked();
  await expect(wizard.timelineMark(LAST_CLEAN)).toHaveAttribute('aria-pressed', 'true');
  await wizard.root.getByRole('button', { name: 'Cancel' }).click();

  // The same sparkline above the VPG's checkpoints, with the verdicts.
  const protection = new ProtectionPage(page);
  await protection.open();
  await protection.openVpg('Payroll');
  const detailSpark = page.getByRole('group', { name: 'Change per checkpoint' });
  await expect(detailSpark).toBeVisible();
  await expect(detailSpark.getByLabel(`Marked clean: ${LAST_CLEAN}`)).toBeVisible();
  // The card's top: its header and the sparkline (the Tasks bar covers the page's bottom).
  const card = page.getByRole('region', { name: 'Checkpoints', exact: true });
  await card.evaluate((el) => {
    el.style.scrollMarginTop = '88px';
    el.scrollIntoView({ block: 'start' });
  });
  await expect.poll(async () => (await card.boundingBox())?.y).toBeLessThan(200);
  const box = (await card.boundingBox())!;
  const path = repoPath('artifacts/e2e/clean-point-detail.png');
  await page.screenshot({
    path,
    animations: 'disabled',
    clip: { x: box.x, y: box.y, width: box.width, height: 320 },
  });
  await testInfo.attach('clean-point-detail', { path, contentType: 'image/png' });
});
