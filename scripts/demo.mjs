#!/usr/bin/env node
// The demo lab: two agents with simulated hypervisors ("Headquarters", "Recovery DC") on
// 127.0.0.1 and the console already connected to both. Data is kept in --data-dir between
// runs. Electron is used when its binary is installed, browser mode otherwise (or --browser).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { findElectronBinary } from './lib/electron-binary.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: {
    browser: { type: 'boolean', default: false },
    'no-open': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    bare: { type: 'boolean', default: false },
    'data-dir': { type: 'string', default: join(root, '.demo') },
    'base-port': { type: 'string' },
    port: { type: 'string', default: '0' },
    'rpo-grace-seconds': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opts.help) {
  console.log(`usage: npm run demo -- [--browser] [--data-dir DIR] [--base-port N] [--port N] [--no-build]
  --browser      serve the console to a browser even when Electron is installed
  --data-dir     where agents and console keep their data (default .demo/, kept between runs)
  --base-port    first agent port; each agent uses two (control, replication)
                 (default from resources/demo-lab.json; 0 = any free ports)
  --port         browser-mode console port on 127.0.0.1 (default: any free port)
  --no-open      do not open the console link in the desktop's browser
  --bare         leave the sites unpaired and the VMs unprotected (to try that in the console)
  --rpo-grace-seconds N
                 how long an RPO may stay over its target before the agents raise an alert
                 (agent default 60; a few seconds to show alerts quickly)`);
  process.exit(0);
}

const dataDir = resolve(opts['data-dir']);
const lab = JSON.parse(readFileSync(join(root, 'resources/demo-lab.json'), 'utf8'));
const children = new Set();
let stopping = false;

function fail(message) {
  console.error(`demo: ${message}`);
  void stopAll(1);
}

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', done);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

function runToEnd(args) {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => done({ code, out, err }));
  });
}

/**
 * Starts a long-running child and resolves with the first stdout line `match` accepts. Its
 * stderr (where the console logs) goes to `logFile`, so the terminal shows only the lab.
 */
function startChild(command, args, match, logFile, env = {}) {
  mkdirSync(dirname(logFile), { recursive: true });
  const child = spawn(command, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', openSync(logFile, 'a')],
    env: { ...process.env, ...env },
  });
  children.add(child);
  return new Promise((resolveLine, reject) => {
    const lines = createInterface({ input: child.stdout });
    let found = false;
    lines.on('line', (line) => {
      if (found) return;
      const value = match(line);
      if (value !== undefined) {
        found = true;
        resolveLine({ child, value });
      }
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      const why = `${args[0]} exited (${code ?? signal})`;
      if (!found) reject(new Error(`${why} before it was ready; see ${logFile}`));
      else if (!stopping) fail(`${why} unexpectedly; see ${logFile}`);
    });
  });
}

function listeningPort(line) {
  try {
    const entry = JSON.parse(line);
    return entry.msg === 'listening' && typeof entry.port === 'number' ? entry.port : undefined;
  } catch {
    return undefined;
  }
}

/** A minimal JSON-RPC client for setting up the lab through the agents' own API. */
function connectAgent(port, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, {
      headers: { Authorization: `Bearer ${token}` },
      rejectUnauthorized: false,
    });
    const pending = new Map();
    let nextId = 1;
    const call = (method, params) =>
      new Promise((done, fail) => {
        const id = nextId++;
        pending.set(id, { done, fail });
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      });
    ws.on('message', (data) => {
      const reply = JSON.parse(String(data));
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (reply.error) p.fail(new Error(reply.error.message));
      else p.done(reply.result);
    });
    ws.on('error', reject);
    ws.on('open', () => {
      const hello = { protocolVersion: 1, client: { product: 'tideline-demo', version: '1' } };
      call('hello', hello).then(() => resolve({ call, close: () => ws.close() }), reject);
    });
  });
}

async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Makes the lab what a demo should show: site details, the two sites paired, and the
 * protected site's running VMs in VPGs with a light simulated load. Each step checks what is
 * already there, so an interrupted setup completes on the next run.
 */
async function setUpLab(started) {
  const [hq, rdc] = await Promise.all(started.map((s) => connectAgent(s.port, s.agent.token)));
  try {
    for (const [client, { site }] of [hq, rdc].map((c, i) => [c, started[i]])) {
      const details = await client.call('site.details');
      if (details.location === '' && details.contact === '') {
        await client.call('site.setDetails', { location: site.location, contact: site.contact });
      }
    }
    const rdcSite = await rdc.call('site.details');
    const paired = (peers) => peers.find((p) => p.siteId === rdcSite.siteId);
    if (paired(await hq.call('site.peers')) === undefined) {
      const token = await hq.call('site.pairingToken');
      await rdc.call('site.pair', {
        address: token.address,
        token: token.token,
        fingerprint: token.fingerprint,
      });
    }
    await until(
      'the sites to connect',
      async () => paired(await hq.call('site.peers'))?.link === 'connected',
    );

    const existing = await hq.call('vpg.list');
    const protectedVms = new Set(existing.flatMap((v) => v.vmIds));
    const running = (await hq.call('vm.list'))
      .filter((vm) => vm.powerState === 'running')
      .sort((a, b) => a.name.localeCompare(b.name));
    const [recoveryHost] = await rdc.call('host.list');
    for (const [index, plan] of lab.vpgs.entries()) {
      if (existing.some((v) => v.name === plan.name)) continue;
      const vms = running.slice(index * plan.vmCount, (index + 1) * plan.vmCount);
      if (vms.length === 0 || vms.some((vm) => protectedVms.has(vm.vmId))) continue;
      await hq.call('vpg.create', {
        ...plan.settings,
        name: plan.name,
        vmIds: vms.map((vm) => vm.vmId),
        recoverySiteId: rdcSite.siteId,
        recoveryHostId: recoveryHost.hostId,
        recoveryDatastore: recoveryHost.datastores[0].name,
      });
    }
    // Simulated load is not kept by the agents across restarts: set it on every start.
    for (const vpg of await hq.call('vpg.list')) {
      for (const vmId of vpg.vmIds) {
        await hq.call('vm.setWorkload', { vmId, bytesPerSecond: lab.workloadBytesPerSecond });
      }
    }
  } finally {
    hq.close();
    rdc.close();
  }
}

async function main() {
  if (!opts['no-build']) {
    console.log('demo: building…');
    const build = await runToEnd(['scripts/build.mjs', '--quiet']);
    if (build.code !== 0) throw new Error(`build failed:\n${build.err || build.out}`);
  }
  mkdirSync(dataDir, { recursive: true });
  const statePath = join(dataDir, 'lab.json');
  const state = existsSync(statePath)
    ? JSON.parse(readFileSync(statePath, 'utf8'))
    : { agents: {} };

  for (const site of lab.sites) {
    const dir = join(dataDir, 'agents', site.slug);
    if (state.agents[site.slug] !== undefined) continue;
    if (existsSync(dir)) {
      throw new Error(
        `${dir} exists but ${statePath} has no token for it; delete ${dataDir} to start over`,
      );
    }
    const init = await runToEnd([
      'bin/tideline-agent.mjs',
      'init',
      '--data-dir',
      dir,
      '--site',
      site.name,
    ]);
    const token = init.out.match(/^token: (\S+)$/m)?.[1];
    const fingerprint = init.out.match(/^fingerprint: (\S+)$/m)?.[1];
    if (init.code !== 0 || !token || !fingerprint) {
      throw new Error(`tideline-agent init for ${site.name} failed: ${init.err || init.out}`);
    }
    state.agents[site.slug] = { token, fingerprint };
    // The lab file holds the demo agents' admin tokens: readable by this user only.
    writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
    chmodSync(statePath, 0o600);
  }

  const basePort = opts['base-port'] === undefined ? undefined : Number(opts['base-port']);
  const seed = [];
  const started = [];
  for (const [index, site] of lab.sites.entries()) {
    // Each agent takes two ports: control, and replication on the next one.
    const port = basePort === undefined ? site.port : basePort === 0 ? 0 : basePort + 2 * index;
    const dir = join(dataDir, 'agents', site.slug);
    const agent = state.agents[site.slug];
    const grace = opts['rpo-grace-seconds'];
    const { value: actual } = await startChild(
      process.execPath,
      [
        'bin/tideline-agent.mjs',
        'run',
        '--data-dir',
        dir,
        '--listen',
        `127.0.0.1:${port}`,
        ...(grace === undefined ? [] : ['--rpo-grace-seconds', grace]),
      ],
      listeningPort,
      join(dataDir, 'logs', `${site.slug}.stderr.log`),
    ).catch((err) => {
      throw new Error(
        `${err.message}; is port ${port} in use (another demo running)? Try --base-port`,
      );
    });
    seed.push({
      address: `127.0.0.1:${actual}`,
      token: agent.token,
      fingerprint: agent.fingerprint,
    });
    started.push({ site, port: actual, agent });
  }
  if (!opts.bare) {
    console.log('demo: pairing the sites and protecting VMs…');
    await setUpLab(started);
  }
  const seedPath = join(dataDir, 'console-seed.json');
  writeFileSync(seedPath, JSON.stringify(seed, null, 2), { mode: 0o600 });
  const settingsDir = join(dataDir, 'console');

  console.log('\nTideline demo lab');
  for (const { site, port, agent } of started) {
    console.log(
      `  ${site.name.padEnd(14)} wss://127.0.0.1:${port}/  fingerprint ${agent.fingerprint}`,
    );
  }
  console.log(`  data: ${dataDir} (logs in ${join(dataDir, 'logs')} and each agent's folder)`);

  const electron = opts.browser ? undefined : findElectronBinary();
  if (electron !== undefined) {
    console.log('  console: Electron');
    await startChild(electron, [root], () => undefined, join(dataDir, 'logs', 'console.log'), {
      TIDELINE_SETTINGS_DIR: settingsDir,
      TIDELINE_SEED: seedPath,
    }).catch(() => stopAll(0)); // closing the window stops the lab
    return;
  }
  if (!opts.browser)
    console.log('  console: Electron is not installed here, serving it to a browser');
  const { value: url } = await startChild(
    process.execPath,
    ['dist/main/web.mjs', '--settings-dir', settingsDir, '--seed', seedPath, '--port', opts.port],
    (line) => line.match(/^Console: (http:\/\/\S+)$/)?.[1],
    join(dataDir, 'logs', 'console.log'),
  );
  console.log(`\nConsole: ${url}`);
  const desktop = process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
  if (!opts['no-open'] && desktop && !process.env.CI) {
    // The link is single-use: once the browser opened it, the printed one is spent.
    spawn('xdg-open', [url], { stdio: 'ignore', detached: true })
      .on('error', () => undefined)
      .unref();
    console.log('(opened in your browser; Ctrl+C stops the lab)');
  } else {
    console.log('(open it once in a browser; Ctrl+C stops the lab)');
  }
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
