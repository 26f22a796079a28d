import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { TidelineError } from '../../app/errors';
import { VirshSession } from '../../agent/hypervisor/libvirt/virsh-session';
import { virshSkipReason } from '../helpers/libvirt-lab';

const log = pino({ level: 'silent' });
const skip = await virshSkipReason('test:///default');

async function rejectsWith(promise: Promise<unknown>, code: string, text: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TidelineError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, text);
    return true;
  });
}

/** The real virsh, on libvirt's test driver (its state lives in the session's process). */
describe('virsh session', { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tideline-virsh-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs commands one after another in one process, keeping the driver’s state', async () => {
    const session = new VirshSession({ uri: 'test:///default', log });
    try {
      const [state, uuids] = await Promise.all([
        session.run(['domstate', 'test']),
        session.run(['list', '--all', '--uuid']),
      ]);
      assert.equal(state.trim(), 'running');
      assert.match(uuids, /^[0-9a-f-]{36}\n/);
      await session.run(['destroy', 'test']);
      assert.equal((await session.run(['domstate', 'test'])).trim(), 'shut off', 'same process');
    } finally {
      await session.close();
    }
  });

  it('passes arguments verbatim (quotes, semicolons, markers) and refuses line breaks', async () => {
    const session = new VirshSession({ uri: 'test:///default', log });
    try {
      const tricky = `it's "quoted"; echo 'tl'-z1 # not a comment \\ end`;
      assert.equal(await session.run(['echo', tricky]), tricky);
      await rejectsWith(session.run(['echo', 'a\nlist']), 'INVALID_PARAMS', /line break/);
      assert.equal(await session.run(['echo', 'still fine']), 'still fine');
    } finally {
      await session.close();
    }
  });

  it('fails a command with the command and libvirt’s message, and goes on', async () => {
    const session = new VirshSession({ uri: 'test:///default', log });
    try {
      await rejectsWith(
        session.run(['dumpxml', 'no such vm']),
        'NOT_FOUND',
        /^virsh dumpxml 'no such vm' failed: failed to get domain 'no such vm'/,
      );
      assert.equal((await session.run(['domstate', 'test'])).trim(), 'running');
    } finally {
      await session.close();
    }
  });

  it('kills a command that does not answer, and starts afresh for the next one', async () => {
    // A virsh that hangs (a hung libvirtd cannot be made on demand): it never answers.
    const hung = join(dir, 'hung-virsh');
    await writeFile(hung, '#!/bin/sh\nexec sleep 60\n');
    await chmod(hung, 0o755);
    const session = new VirshSession({ uri: 'test:///default', log, binary: hung, timeoutMs: 300 });
    const started = Date.now();
    await rejectsWith(session.run(['list']), 'TIMEOUT', /^virsh list did not answer within 0 s/);
    assert.ok(Date.now() - started < 5000);
    await rejectsWith(session.run(['list'], { timeoutMs: 200 }), 'TIMEOUT', /may be hung/);
    await session.close();
  });

  it('reports a virsh that exits as UNAVAILABLE, naming the command', async () => {
    const gone = join(dir, 'gone-virsh');
    await writeFile(
      gone,
      '#!/bin/sh\necho "error: failed to connect to the hypervisor" >&2\nexit 1\n',
    );
    await chmod(gone, 0o755);
    const session = new VirshSession({ uri: 'qemu:///nowhere', log, binary: gone });
    await rejectsWith(
      session.run(['list']),
      'UNAVAILABLE',
      /virsh list failed: virsh exited \(code 1\): error: failed to connect to the hypervisor; is libvirtd running/,
    );
    await session.close();
  });
});
