import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  PairingTokenSchema,
  SupportBundleSchema,
  type BundleChunk,
  type SupportBundle,
  type SupportCollection,
  type Task,
} from '../../app/protocol';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { cleanupAgents, makeTempDir } from '../helpers/agents';
import { consoleCall } from '../helpers/console-call';
import {
  call,
  createVpg,
  errorOf,
  pairedSites,
  startSite,
  stopSite,
  vms,
  type Site,
} from '../helpers/replication-sites';
import { holdersOf, readAllChunks, readTarGz } from '../helpers/support-archive';

/**
 * Support bundles from real agents: log.collect over the agent protocol (contents, time and
 * level filters, redaction), hostile reads, and support.collect through the console core for
 * two agents (one archive, the console's log, an agent down reported and not fatal).
 */

const ALL = { logs: true, state: true, system: true };
/** A token-shaped secret a careless line could hold, planted in the agent's log. */
const PLANTED = 'Zq8xW3vB7nK2mP5rT9yL4cF6hJ1dS0aG8eU3iO7wQ2k';

let hq: Site;
let dr: Site;
let vpgName: string;
let pairingToken: string;
/** Secrets no bundle may hold. */
let secrets: string[];

async function collect(site: Site, params: Record<string, unknown>): Promise<SupportBundle> {
  const { taskId } = await call<{ taskId: string }>(site, 'log.collect', params);
  const task = await call<Task>(site, 'task.waitFor', { taskId, timeoutMs: 60_000 });
  assert.equal(task.completionCode, 'Success', task.exception);
  assert.equal(task.type, 'CollectLogs');
  return SupportBundleSchema.parse(task.result);
}

async function download(site: Site, bundle: SupportBundle, chunk: number): Promise<Buffer> {
  const archive = await readAllChunks((offset) =>
    call<BundleChunk>(site, 'log.bundleRead', { bundleId: bundle.bundleId, offset, length: chunk }),
  );
  assert.equal(archive.length, bundle.bytes);
  assert.equal(createHash('sha256').update(archive).digest('hex'), bundle.sha256);
  return archive;
}

/** Appends lines to the log file the agent writes now (logs/current.log points at it). */
async function plantLogLines(site: Site, lines: readonly object[]): Promise<void> {
  const logs = join(site.creds.dataDir, 'logs');
  const current = join(
    logs,
    await readlink(join(logs, 'current.log')).then((t) => t.split('/').pop() ?? ''),
  );
  await appendFile(current, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

describe('support bundles (log.collect) from real agents', () => {
  before(async () => {
    [hq, dr] = await pairedSites();
    const [vm] = await vms(hq);
    assert.ok(vm);
    vpgName = 'support-bundle-vpg';
    await createVpg(hq, dr, { name: vpgName, vmIds: [vm.vmId] });
    pairingToken = PairingTokenSchema.parse(await call(hq, 'site.pairingToken')).token;
    const now = Date.now();
    await plantLogLines(hq, [
      { level: 'info', time: new Date(now).toISOString(), msg: 'planted info', token: PLANTED },
      {
        level: 'info',
        time: new Date(now).toISOString(),
        msg: `planted free text: console used ${hq.creds.token} and pairing ${pairingToken}`,
      },
      { level: 'debug', time: new Date(now).toISOString(), msg: 'planted debug' },
      { level: 'info', time: new Date(now - 3 * 3600_000).toISOString(), msg: 'planted old' },
    ]);
    const keyPem = await readFile(join(hq.creds.dataDir, 'tls', 'key.pem'), 'utf8');
    const keyLine = keyPem.split('\n').find((l) => l.length > 40 && !l.startsWith('-----'));
    assert.ok(keyLine);
    secrets = [hq.creds.token, dr.creds.token, pairingToken, PLANTED, 'PRIVATE KEY', keyLine];
  });

  after(async () => {
    await hq?.client.close();
    await dr?.client.close();
    await cleanupAgents();
  });

  it('collects logs filtered by time and level, state with the VPG, system facts, and no secret', async () => {
    const bundle = await collect(hq, {
      fromTime: Date.now() - 3600_000,
      level: 'info',
      include: ALL,
    });
    assert.ok(bundle.redactions >= 3, `redactions: ${bundle.redactions}`);
    const files = await readTarGz(await download(hq, bundle, 4096));
    const names = [...files.keys()];
    for (const name of [
      'manifest.json',
      'state/vpgs.json',
      'state/storage.json',
      'state/peers.json',
      'state/tasks.json',
      'state/site.json',
      'system/facts.json',
    ]) {
      assert.ok(files.get(name)?.length, `${name} in ${names.join(', ')}`);
    }
    assert.deepEqual(bundle.files.map((f) => f.path).sort(), names.sort());
    const logs = names.filter((n) => n.startsWith('logs/agent.'));
    assert.ok(logs.length >= 1, names.join(', '));
    const logText = logs.map((n) => files.get(n)?.toString('utf8') ?? '').join('');
    assert.match(logText, /planted info/);
    assert.match(logText, /planted free text/);
    assert.doesNotMatch(logText, /planted debug/);
    assert.doesNotMatch(logText, /planted old/);
    assert.match(logText, /\[redacted\]/);
    for (const line of logText.trim().split('\n')) {
      const level = (JSON.parse(line) as { level?: string }).level;
      assert.ok(level !== 'debug' && level !== 'trace', line);
    }
    assert.match(files.get('state/vpgs.json')?.toString() ?? '', new RegExp(vpgName));
    assert.match(files.get('state/peers.json')?.toString() ?? '', new RegExp(dr.agentId));
    assert.match(files.get('state/storage.json')?.toString() ?? '', /outboxOnDisk/);
    const facts = JSON.parse(files.get('system/facts.json')?.toString() ?? '{}') as {
      node: { version: string };
      agent: { hypervisor: string };
      dataDir: { freeBytes: number };
    };
    assert.equal(facts.node.version, process.version);
    assert.equal(facts.agent.hypervisor, 'sim');
    assert.ok(facts.dataDir.freeBytes > 0);
    assert.deepEqual(holdersOf(files, secrets), []);
  });

  it('keeps debug lines at level debug, and only what was asked', async () => {
    const bundle = await collect(hq, {
      level: 'debug',
      include: { logs: true, state: false, system: false },
    });
    const files = await readTarGz(await download(hq, bundle, 1024 * 1024));
    assert.ok([...files.keys()].every((n) => n.startsWith('logs/') || n === 'manifest.json'));
    const logText = [...files.values()].map((b) => b.toString()).join('');
    assert.match(logText, /planted debug/);
    assert.match(logText, /planted old/);
    assert.deepEqual(holdersOf(files, secrets), []);
    // Removed: a second read is NOT_FOUND, and so is a second remove.
    assert.deepEqual(await call(hq, 'log.bundleRemove', { bundleId: bundle.bundleId }), {
      removed: true,
    });
    const gone = await errorOf(hq, 'log.bundleRead', {
      bundleId: bundle.bundleId,
      offset: 0,
      length: 10,
    });
    assert.equal(gone.code, -32004);
    assert.match(gone.message, /Collect it again/);
  });

  it('refuses hostile reads with clear errors', async () => {
    const bundle = await collect(hq, {
      level: 'info',
      include: { logs: false, state: false, system: true },
    });
    const bad = async (params: unknown, code: number, pattern: RegExp) => {
      const err = await errorOf(hq, 'log.bundleRead', params);
      assert.equal(err.code, code, `${JSON.stringify(params)}: ${err.message}`);
      assert.match(err.message + JSON.stringify(err.data ?? ''), pattern);
    };
    await bad({ bundleId: '../../config.json', offset: 0, length: 10 }, -32602, /bundle id/);
    await bad({ bundleId: `${bundle.bundleId}/x`, offset: 0, length: 10 }, -32602, /bundle id/);
    await bad(
      { bundleId: '00000000-0000-4000-8000-000000000000', offset: 0, length: 10 },
      -32004,
      /No support bundle/,
    );
    await bad(
      { bundleId: bundle.bundleId, offset: bundle.bytes + 1, length: 10 },
      -32602,
      /past the end/,
    );
    await bad({ bundleId: bundle.bundleId, offset: -1, length: 10 }, -32602, /offset/);
    await bad({ bundleId: bundle.bundleId, offset: 0, length: 2 * 1024 * 1024 }, -32602, /length/);
    await bad({ bundleId: bundle.bundleId, offset: 0, length: 0 }, -32602, /length/);
    const none = await errorOf(hq, 'log.collect', {
      include: { logs: false, state: false, system: false },
    });
    assert.equal(none.code, -32602);
    assert.match(none.message + JSON.stringify(none.data ?? ''), /at least one/);
    const backwards = await errorOf(hq, 'log.collect', {
      fromTime: 2000,
      toTime: 1000,
      include: ALL,
    });
    assert.equal(backwards.code, -32602);
    // At the very end: an empty read says eof.
    const end = await call<BundleChunk>(hq, 'log.bundleRead', {
      bundleId: bundle.bundleId,
      offset: bundle.bytes,
      length: 10,
    });
    assert.equal(end.data, '');
    assert.equal(end.eof, true);
  });

  describe('through the console core', () => {
    let core: ConsoleCore;
    const consoleLog: string[] = [];

    before(async () => {
      core = new ConsoleCore({
        settings: openNodeSettings(await makeTempDir('tl-console-support-')),
        mode: 'browser',
        backoff: { initialMs: 100, maxMs: 400 },
        coalesceMs: 10,
        logLines: () => consoleLog,
      });
      core.start();
      for (const site of [hq, dr]) {
        const view = await core.addAgent({
          address: site.agent.address,
          token: site.creds.token,
          fingerprint: site.creds.fingerprint,
        });
        assert.equal(view.state, 'connected');
      }
      const now = Date.now();
      consoleLog.push(
        JSON.stringify({ level: 30, time: now, msg: 'console started' }),
        JSON.stringify({ level: 30, time: now, msg: `oops, logged ${dr.creds.token} in text` }),
        JSON.stringify({ level: 20, time: now, msg: 'console debug' }),
      );
    });

    after(async () => {
      await core?.stop();
    });

    const keys = (): string[] => core.snapshot().agents.map((a) => a.key);

    async function collectThroughConsole(): Promise<{
      view: SupportCollection;
      files: Map<string, Buffer>;
    }> {
      const started = await consoleCall(core, 'support.collect', {
        agentKeys: keys(),
        fromTime: Date.now() - 3600_000,
        level: 'info',
        include: ALL,
      });
      const progress: SupportCollection[] = [];
      const view = await new Promise<SupportCollection>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no end: ${JSON.stringify(progress.at(-1))}`)),
          90_000,
        );
        const listener = (c: SupportCollection): void => {
          if (c.collectionId !== started.collectionId) return;
          progress.push(c);
          if (c.state === 'collecting') return;
          clearTimeout(timer);
          core.events.off('support.progress', listener);
          resolve(c);
        };
        core.events.on('support.progress', listener);
      });
      assert.equal(view.state, 'ready', view.error);
      const archive = await readAllChunks((offset) =>
        consoleCall(core, 'support.read', {
          collectionId: view.collectionId,
          offset,
          length: 256 * 1024,
        }),
      );
      assert.equal(archive.length, view.bytes);
      assert.equal(createHash('sha256').update(archive).digest('hex'), view.sha256);
      assert.deepEqual(
        await consoleCall(core, 'support.discard', { collectionId: view.collectionId }),
        {
          discarded: true,
        },
      );
      return { view, files: await readTarGz(archive) };
    }

    it('writes one archive with both agents, the console log and no console secret', async () => {
      const { view, files } = await collectThroughConsole();
      assert.deepEqual(
        view.agents.map((a) => a.state),
        ['done', 'done'],
      );
      const names = [...files.keys()];
      const folders = new Set(names.filter((n) => n.includes('/')).map((n) => n.split('/')[0]));
      const hqFolder = [...folders].find((f) => f?.startsWith('Headquarters-'));
      const drFolder = [...folders].find((f) => f?.startsWith('Recovery_DC-'));
      assert.ok(hqFolder && drFolder, names.join(', '));
      assert.ok(files.get(`${hqFolder}/state/vpgs.json`)?.toString().includes(vpgName));
      assert.ok(files.get(`${drFolder}/system/facts.json`)?.length);
      assert.ok(
        names.some((n) => n.startsWith(`${hqFolder}/logs/agent.`)),
        names.join(', '),
      );
      const consoleText = files.get('console/console.log')?.toString() ?? '';
      assert.match(consoleText, /console started/);
      assert.match(consoleText, /\[redacted\] in text/);
      assert.doesNotMatch(consoleText, /console debug/);
      assert.deepEqual(JSON.parse(files.get('problems.json')?.toString() ?? ''), []);
      assert.ok(files.get('manifest.json')?.length);
      assert.deepEqual(holdersOf(files, secrets), []);
    });

    it('reports an agent that is down in problems.json and still writes the others', async () => {
      await stopSite(dr);
      try {
        const { view, files } = await collectThroughConsole();
        const failed = view.agents.find((a) => a.state === 'failed');
        assert.ok(failed, JSON.stringify(view.agents));
        assert.match(failed.message ?? '', /not connected/);
        const problems = JSON.parse(files.get('problems.json')?.toString() ?? '[]') as {
          address: string;
        }[];
        assert.equal(problems.length, 1);
        assert.equal(problems[0]?.address, dr.agent.address);
        assert.ok([...files.keys()].some((n) => n.startsWith('Headquarters-')));
        assert.ok(![...files.keys()].some((n) => n.startsWith('Recovery_DC-')));
        assert.deepEqual(holdersOf(files, secrets), []);
      } finally {
        await startSite(dr);
      }
    });
  });
});
