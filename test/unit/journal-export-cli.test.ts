import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_BIN, ensureAgentBuilt, REPO_ROOT } from '../helpers/agents';
import {
  appendAll,
  assertSameBytes,
  DiskModel,
  diskSpecs,
  openJournal,
  tempDir,
  VPG,
  Workload,
} from './journal-fixture';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The real command line: the built bundle (bin/tideline-agent.mjs, rebuilt first when a
 * source is newer; starting it takes a fraction of what tsx needs for the whole agent).
 */
async function exportDisk(args: readonly string[]): Promise<Run> {
  await ensureAgentBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENT_BIN, 'export-disk', ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('tideline-agent export-disk', () => {
  it('writes the disk at a checkpoint (seq, name, latest) and prints its size and sha256', async () => {
    const dataDir = await tempDir();
    const specs = diskSpecs(dataDir, [3 * 1024 * 1024 + 512, 1024 * 1024]);
    const workload = new Workload({ disks: specs, records: 300, checkpointEvery: 20 }, 'cli');
    const journal = await openJournal(dataDir, specs);
    await appendAll(journal, workload, workload.next());
    await journal.applyUpTo(100);
    const named = journal.checkpoints().findLast((c) => c.name !== undefined);
    assert.ok(named?.name !== undefined, 'the workload names some checkpoints');

    // While the journal is open (as the agent would have it), the export is refused.
    const out = join(dataDir, 'disk-0.raw');
    const common = ['--data-dir', dataDir, '--vpg', VPG, '--disk', 'disk-0', '--out', out];
    const locked = await exportDisk([...common, '--checkpoint', 'latest']);
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /in use by process \d+/);
    await journal.close();

    const cases: [string, number][] = [
      ['latest', 300],
      ['160', 160],
      [named.name, named.seq],
      ['100', 100],
    ];
    for (const [spec, seq] of cases) {
      const run = await exportDisk([...common, '--checkpoint', spec]);
      assert.equal(run.code, 0, run.stderr);
      const model = new DiskModel(specs);
      model.advance(workload.all, seq - 1);
      const expected = model.disk('disk-0');
      assertSameBytes(await readFile(out), expected, `image at checkpoint ${spec}`);
      const sha = createHash('sha256').update(expected).digest('hex');
      assert.equal(
        run.stdout,
        `sha256=${sha} bytes=${expected.length} checkpoint=${seq} out=${out}\n`,
      );
      assert.match(run.stderr, /export: 100% \(3146240 of 3146240 bytes\)/);
    }

    const tooOld = await exportDisk([...common, '--checkpoint', '80']);
    assert.equal(tooOld.code, 1);
    assert.match(tooOld.stderr, /older than the journal's history/);
    const noDisk = await exportDisk([
      ...common.slice(0, 4),
      '--disk',
      'disk-7',
      '--out',
      out,
      '--checkpoint',
      'latest',
    ]);
    assert.equal(noDisk.code, 1);
    assert.match(noDisk.stderr, /no disk "disk-7"; its disks are: disk-0, disk-1/);
    const noName = await exportDisk([...common, '--checkpoint', 'no-such-name']);
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /no checkpoint "no-such-name"/);
    const noVpg = await exportDisk([
      '--data-dir',
      dataDir,
      '--vpg',
      'vpg-9',
      '--disk',
      'd',
      '--out',
      out,
      '--checkpoint',
      '1',
    ]);
    assert.equal(noVpg.code, 1);
    assert.match(noVpg.stderr, /VPG vpg-9 has no journal/);
    const usage = await exportDisk(['--data-dir', dataDir, '--vpg', VPG]);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /Missing --disk DISK/);
  });
});
