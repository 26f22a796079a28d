import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { initDataDir } from '../../agent/commands/init';
import { dataDirLayout } from '../../agent/config/data-dir';
import { DataDirLock, DataDirLockedError } from '../../agent/config/data-dir-lock';
import { cleanupAgents, makeTempDir } from '../helpers/agents';

after(cleanupAgents);

describe('init next to another init of the same directory', () => {
  it('says the directory is in use while another init holds it, part-way through', async () => {
    const dataDir = await makeTempDir('tideline-init-race-');
    const layout = dataDirLayout(dataDir);
    // What another init has made before its certificate is written: its lock, state/, tls/.
    const other = DataDirLock.acquire(layout.root, layout.lockFile, 'init');
    try {
      await mkdir(layout.stateDir);
      await mkdir(layout.tlsDir);
      await assert.rejects(
        initDataDir({ dataDir, siteName: 'Race', hypervisor: 'sim', simDiskMiB: 1 }),
        (err: unknown) => err instanceof DataDirLockedError && /is in use by/.test(err.message),
      );
    } finally {
      other.release();
    }
    assert.deepEqual((await readdir(dataDir)).sort(), ['agent.lock', 'state', 'tls']);
  });

  it('refuses what a crashed init left (a free lock file and part of its files)', async () => {
    const dataDir = await makeTempDir('tideline-init-race-');
    const layout = dataDirLayout(dataDir);
    DataDirLock.acquire(layout.root, layout.lockFile, 'init').release();
    await mkdir(layout.stateDir);
    await assert.rejects(
      initDataDir({ dataDir, siteName: 'Race', hypervisor: 'sim', simDiskMiB: 1 }),
      /is not empty and is not an agent data directory/,
    );
    assert.deepEqual((await readdir(dataDir)).sort(), ['agent.lock', 'state']);
  });
});
