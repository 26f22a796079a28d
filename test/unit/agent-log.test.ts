import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LOG_FILES_KEPT, createAgentLog } from '../../agent/log';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('logs roll by size and keep a bounded number of files', async () => {
  const logsDir = join(await mkdtemp(join(tmpdir(), 'tideline-log-')), 'logs');
  dirs.push(join(logsDir, '..'));
  const fileBytes = 16 * 1024;
  const { log, flush } = await createAgentLog({ logsDir, level: 'info', fileBytes });
  const stdout = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true; // the agent also logs to stdout: keep the test output clean
  try {
    for (let i = 0; i < 4000; i += 1) {
      log.info({ i, pad: 'x'.repeat(64) }, 'a line');
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2)); // rolls after a drain
    }
    log.info('the last line');
    flush();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    process.stdout.write = stdout;
  }
  const files = (await readdir(logsDir)).filter((f) => /^agent\.\d+\.log$/.test(f));
  assert.ok(files.length > 1, `rolled: ${files.join(', ')}`);
  assert.ok(files.length <= LOG_FILES_KEPT + 1, `at most ${LOG_FILES_KEPT + 1}: ${files.length}`);
  let total = 0;
  for (const f of files) total += (await stat(join(logsDir, f))).size;
  assert.ok(total < (LOG_FILES_KEPT + 1) * fileBytes * 2, `bounded: ${total} bytes`);
  const newest = files.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1])).at(-1);
  assert.equal(await readlink(join(logsDir, 'current.log')), newest);
  const current = await readFile(join(logsDir, 'current.log'), 'utf8');
  assert.match(current.trim().split('\n').at(-1) ?? '', /"msg":"the last line"/);
});
