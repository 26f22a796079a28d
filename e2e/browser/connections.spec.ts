import { expect, test } from '../fixtures/lab';
import { EstatePage } from '../pages/estate-page';

test('an agent that goes away shows retrying with its error, and can be removed', async ({
  page,
  lab,
}) => {
  const agent = await lab.startAgent('Headquarters');
  const server = await lab.startConsole();
  const estate = new EstatePage(page);
  await estate.open(server.url);
  await estate.addAgent(agent.running.address, agent.init.token);
  await expect(estate.agentState(agent.running.address)).toHaveText('Connected');

  await agent.running.stop();
  await expect(estate.agentState(agent.running.address)).toHaveText(/^Retrying/);
  const row = estate.agent(agent.running.address);
  await expect(row.getByRole('alert')).not.toBeEmpty();
  await row.getByRole('button', { name: 'Retry now' }).click();
  await expect(estate.agentState(agent.running.address)).toHaveText(/^Retrying/);

  await estate.removeAgent(agent.running.address);
  await expect(estate.agent(agent.running.address)).toBeHidden();
  await expect(estate.emptyState).toBeVisible();
});

test('losing the console shows the reconnecting state', async ({ page, lab }) => {
  const server = await lab.startConsole();
  const estate = new EstatePage(page);
  await estate.open(server.url);

  await server.process.stop();
  await expect(page.getByText('Console connection lost, reconnecting')).toBeVisible();
  await expect(estate.consoleStatus).toHaveText(/^Reconnecting/);
});
