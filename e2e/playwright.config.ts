import { defineConfig } from '@playwright/test';
import { repoPath } from './fixtures/paths';

/**
 * End to end in Debian's Chromium against browser mode with real agents behind it, and in
 * Electron wherever its binary is installed. Never `npx playwright install`: the browser is
 * the system's.
 */
export default defineConfig({
  testDir: '.',
  outputDir: repoPath('artifacts/e2e/test-results'),
  workers: 1,
  retries: 0,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [['list'], ['json', { outputFile: repoPath('artifacts/e2e/results.json') }]],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    viewport: { width: 1440, height: 900 },
    actionTimeout: 15_000,
    navigationTimeout: 30_000,
  },
  projects: [
    {
      name: 'browser',
      testMatch: 'browser/*.spec.ts',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        },
      },
    },
    {
      name: 'electron',
      testMatch: 'electron/*.spec.ts',
    },
  ],
});
