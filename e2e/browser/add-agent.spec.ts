import { vmNamesFromAgent } from '../fixtures/agent-rpc';
import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';

test.describe('Add agent', () => {
  test('shows the fingerprint init printed, then connects and lists the agent’s VMs', async ({
    page,
    lab,
  }) => {
    const agent = await lab.startAgent('Headquarters');
    const server = await lab.startConsole();
    const estate = new EstatePage(page);
    await estate.open(server.url);
    await expect(estate.emptyState).toBeVisible();

    const dialog = await estate.openAddAgent();
    await dialog.enterConnection(agent.running.address, agent.init.token);
    await dialog.continueToCertificate();
    expect(await dialog.shownFingerprint()).toBe(agent.init.fingerprint);
    await expect(dialog.root).toContainText('tideline-agent init');
    await dialog.trustAndConnect.click();
    await dialog.expectClosed();

    await expect(estate.agentState(agent.running.address)).toHaveText('Connected');
    await expect(estate.site('Headquarters')).toBeVisible();
    const expected = await vmNamesFromAgent({ ...agent.running, token: agent.init.token });
    expect(expected.length).toBeGreaterThan(0);
    await estate.expectVms('Headquarters', expected);
    await expect(estate.hostTable('Headquarters').getByRole('rowheader')).not.toHaveCount(0);
  });

  test('a wrong token is refused with an error in the dialog, and nothing is added', async ({
    page,
    lab,
  }) => {
    const agent = await lab.startAgent('Branch office');
    const server = await lab.startConsole();
    const estate = new EstatePage(page);
    await estate.open(server.url);

    const dialog = await estate.openAddAgent();
    await dialog.enterConnection(
      agent.running.address,
      'WrongToken-0123456789abcdefghijklmnopqrstuv',
    );
    await dialog.continueToCertificate();
    await dialog.trustAndConnect.click();

    await expect(dialog.error).toBeVisible();
    await expect(dialog.error).toContainText('UNAUTHORIZED');
    await expect(dialog.error).not.toContainText(/\bat .+:\d+:\d+/); // never a stack trace
    await expect(dialog.root).toBeVisible();

    await dialog.cancel.click();
    await dialog.expectClosed();
    await expect(estate.emptyState).toBeVisible();
  });

  test('checks address and token inline with the app schemas before probing', async ({
    page,
    lab,
  }) => {
    const server = await lab.startConsole();
    const estate = new EstatePage(page);
    await estate.open(server.url);

    const dialog = await estate.openAddAgent();
    await dialog.enterConnection('agent-without-port', 'short');
    await dialog.next.click();
    await expect(dialog.address).toHaveAccessibleDescription(/must be host:port/);
    await expect(dialog.token).toHaveAccessibleDescription(/is too short/);
    await expect(dialog.fingerprintBlock).toBeHidden();

    await dialog.address.fill('127.0.0.1:1');
    await dialog.token.fill('0123456789abcdefghijklmnop');
    await dialog.next.click();
    await expect(dialog.error).toBeVisible(); // nothing listens on port 1: the probe fails
    await expect(dialog.fingerprintBlock).toBeHidden();
  });
});
