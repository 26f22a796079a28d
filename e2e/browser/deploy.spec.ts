import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureAgentBuilt, reservePorts } from '../../test/helpers/agents';
import { sshHostUnavailable, startSshHost, type SshHost } from '../../test/helpers/ssh-host';
import { expect, test } from '../fixtures/lab';
import { repoPath } from '../fixtures/paths';
import { EstatePage } from '../pages/estate-page';

const run = promisify(execFile);

test.describe('Deploy an agent over SSH', () => {
  let host: SshHost | undefined;
  test.afterEach(async () => {
    await host?.stop();
    host = undefined;
  });

  test('add a host, confirm its key, deploy, and see it Installed with its VMs', async ({
    page,
    lab,
  }, testInfo) => {
    const unavailable = await sshHostUnavailable();
    test.skip(unavailable !== undefined, unavailable);
    test.setTimeout(300_000);
    // The console deploys what npm run package:agent built (release/ of this checkout).
    await ensureAgentBuilt();
    await run(
      process.execPath,
      [repoPath('scripts/package-agent.mjs'), '--arch', 'x64', '--no-build'],
      {
        cwd: repoPath('.'),
        maxBuffer: 16 * 2 ** 20,
      },
    );
    host = await startSshHost();
    const server = await lab.startConsole();
    const estate = new EstatePage(page);
    await estate.open(server.url);

    const section = page.getByRole('region', { name: 'Hosts' });
    await section.getByRole('button', { name: 'Add host' }).click();
    const add = page.getByRole('dialog', { name: 'Add a host' });
    await add.getByLabel('Host name or address').fill('127.0.0.1');
    await add.getByLabel('SSH port').fill(String(host.port));
    await add.getByLabel('SSH user').fill(host.user);
    await add.getByLabel('Site name').fill('Branch office');
    // A free port for the agent (the console connects to it on 127.0.0.1).
    await add.getByLabel('Agent port').fill(String(await reservePorts(1)));
    await add.getByRole('button', { name: 'Add host' }).click();

    // The key the host presents, with the command to compare it on the host.
    const key = page.getByRole('dialog', { name: /Confirm the host key of 127\.0\.0\.1/ });
    await expect(key.getByLabel('Host key fingerprint')).toHaveText(host.hostKeyFingerprint);
    await expect(key.getByLabel('Command to run on the host')).toHaveText(
      'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub',
    );
    const keyShot = repoPath('artifacts/e2e/deploy-host-key.png');
    await page.screenshot({ path: keyShot, animations: 'disabled' });
    await testInfo.attach('host key', { path: keyShot, contentType: 'image/png' });
    await key.getByRole('button', { name: 'Trust this key' }).click();
    await expect(key).toBeHidden();

    const row = section.getByRole('row', { name: 'Host 127.0.0.1' });
    await expect(row).toContainText(host.hostKeyFingerprint);
    await row.getByRole('button', { name: 'Deploy' }).click();
    const login = page.getByRole('dialog', { name: /Deploy the agent to 127\.0\.0\.1/ });
    await login.getByLabel('Password').fill(host.password);
    await login.getByRole('button', { name: 'Deploy' }).click();
    await expect(login).toBeHidden();

    await expect(row.getByRole('status')).toHaveText(/Installing/);
    await expect(row.getByRole('status')).toHaveText('Installed', { timeout: 180_000 });
    await expect(row).toContainText('0.1.0');
    // The console holds the agent it installed: its site, hosts and VMs.
    await expect(estate.site('Branch office')).toBeVisible({ timeout: 30_000 });
    await expect(
      page.getByRole('table', { name: 'Virtual machines at Branch office' }).getByRole('row'),
    ).not.toHaveCount(0);
    const shot = repoPath('artifacts/e2e/deploy-installed.png');
    await page.screenshot({ path: shot, fullPage: true, animations: 'disabled' });
    await testInfo.attach('deployed', { path: shot, contentType: 'image/png' });
  });
});
