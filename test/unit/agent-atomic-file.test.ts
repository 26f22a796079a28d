import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  removeStaleTempFiles,
  writeFileAtomic,
  writeJsonAtomic,
} from '../../agent/store/atomic-file';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tideline-atomic-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes new content, replaces old content, and leaves no temp file', async () => {
    const file = join(dir, 'a.json');
    await writeJsonAtomic(file, { n: 1 });
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { n: 1 });
    await writeJsonAtomic(file, { n: 2 });
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { n: 2 });
    assert.deepEqual(await readdir(dir), ['a.json']);
  });

  it('applies the mode to new files (secrets stay private)', async () => {
    const file = join(dir, 'secret.pem');
    await writeFileAtomic(file, 'x', { mode: 0o600 });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it('exclusive refuses to replace an existing file and keeps it intact', async () => {
    const file = join(dir, 'once.json');
    await writeFileAtomic(file, 'first', { exclusive: true });
    await assert.rejects(writeFileAtomic(file, 'second', { exclusive: true }), { code: 'EEXIST' });
    assert.equal(await readFile(file, 'utf8'), 'first');
    assert.equal((await readdir(dir)).filter((n) => n.includes('.tmp-')).length, 0);
  });

  it('removeStaleTempFiles removes only temp files of interrupted writes', async () => {
    const sub = await mkdtemp(join(dir, 'stale-'));
    await writeFile(join(sub, '.site.json.tmp-123-0123456789ab'), 'partial');
    await writeFile(join(sub, 'site.json'), '{}');
    await writeFile(join(sub, '.hidden'), 'keep');
    assert.equal(await removeStaleTempFiles(sub), 1);
    assert.deepEqual((await readdir(sub)).sort(), ['.hidden', 'site.json']);
  });

  it('survives being killed at random moments: the file is always old or new, never torn', async () => {
    const file = join(dir, 'crash.json');
    const module = resolve(import.meta.dirname, '../../agent/store/atomic-file.ts');
    // A writer that rewrites a ~1 MiB JSON document as fast as it can, each version complete.
    const script = `
      import { writeJsonAtomic } from ${JSON.stringify(module)};
      const filler = 'x'.repeat(1024 * 1024);
      for (let n = 1; ; n++) {
        await writeJsonAtomic(${JSON.stringify(file)}, { n, filler, check: n * 7 });
        if (n === 1) process.stdout.write('ready\\n');
      }
    `;
    for (let round = 0; round < 4; round += 1) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await once(child.stdout, 'data');
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 150)));
      child.kill('SIGKILL');
      await once(child, 'exit');
      const doc = JSON.parse(await readFile(file, 'utf8')) as {
        n: number;
        filler: string;
        check: number;
      };
      assert.equal(doc.check, doc.n * 7);
      assert.equal(doc.filler.length, 1024 * 1024);
    }
    await removeStaleTempFiles(dir);
    assert.equal((await readdir(dir)).filter((n) => n.includes('.tmp-')).length, 0);
  });
});
