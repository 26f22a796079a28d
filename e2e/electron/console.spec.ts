import { _electron as electron, type ElectronApplication } from '@playwright/test';
import { findElectronBinary } from '../../scripts/lib/electron-binary.mjs';
import { vmNamesFromAgent } from '../fixtures/agent-rpc';
import { expect, test } from '../fixtures/lab';
import { repoPath } from '../fixtures/paths';
import { EstatePage } from '../pages/estate-page';

const binary = findElectronBinary();

interface WebPreferences {
  readonly contextIsolation?: boolean;
  readonly sandbox?: boolean;
  readonly nodeIntegration?: boolean;
}

test.describe('Electron shell', () => {
  test.skip(
    binary === undefined,
    'Electron binary not installed (set ELECTRON_OVERRIDE_DIST_PATH)',
  );

  let app: ElectronApplication | undefined;
  test.afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('adds an agent in a sandboxed window and lists its VMs', async ({ lab }) => {
    const agent = await lab.startAgent('Headquarters');
    app = await electron.launch({
      executablePath: binary,
      args: [repoPath('dist/main/electron.mjs')],
      env: { ...process.env, TIDELINE_SETTINGS_DIR: await lab.tempDir('electron-settings') },
    });
    const window = await app.firstWindow();

    const prefs = await app.evaluate(({ BrowserWindow }) =>
      BrowserWindow.getAllWindows().map((w) => {
        // Undocumented but long-standing: the preferences the renderer was really created with.
        const contents = w.webContents as unknown as {
          getLastWebPreferences(): WebPreferences | null;
        };
        const p = contents.getLastWebPreferences();
        return {
          contextIsolation: p?.contextIsolation,
          sandbox: p?.sandbox,
          nodeIntegration: p?.nodeIntegration,
        };
      }),
    );
    expect(prefs.length).toBeGreaterThan(0);
    for (const p of prefs)
      expect(p).toEqual({ contextIsolation: true, sandbox: true, nodeIntegration: false });
    expect(await window.evaluate(() => typeof Reflect.get(globalThis, 'require'))).toBe(
      'undefined',
    );
    expect(await window.evaluate(() => typeof Reflect.get(globalThis, 'process'))).toBe(
      'undefined',
    );

    const estate = new EstatePage(window);
    await estate.waitUntilLive();
    const dialog = await estate.openAddAgent();
    await dialog.enterConnection(agent.running.address, agent.init.token);
    await dialog.continueToCertificate();
    expect(await dialog.shownFingerprint()).toBe(agent.init.fingerprint);
    await dialog.trustAndConnect.click();
    await dialog.expectClosed();

    await expect(estate.agentState(agent.running.address)).toHaveText('Connected');
    await estate.expectVms(
      'Headquarters',
      await vmNamesFromAgent({ ...agent.running, token: agent.init.token }),
    );
  });
});
