import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { ConsoleCore } from '../../main/services/console-core';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { startWebConsole, type WebConsole } from '../../main/web/web-console';
import {
  REPO_ROOT,
  cleanupAgents,
  initAgent,
  makeTempDir,
  startAgent,
  type RunningAgent,
} from '../helpers/agents';
import { untilEstate } from '../unit/console-fake-agent';

interface Rpc {
  jsonrpc: '2.0';
  id?: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: { path?: string } };
}

async function get(url: string, cookie?: string): Promise<Response> {
  return fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
}

/** Opens /api; resolves the socket, or the HTTP status the upgrade was refused with. */
function openApi(origin: string, headers: Record<string, string>): Promise<WebSocket | number> {
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/api`, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', (err) => reject(err));
  });
}

function rpc(ws: WebSocket): {
  call(method: string, params?: unknown): Promise<Rpc>;
  next(method: string): Promise<Rpc>;
} {
  let id = 0;
  const frames: Rpc[] = [];
  const waiters: { match: (f: Rpc) => boolean; resolve: (f: Rpc) => void }[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as Rpc;
    const i = waiters.findIndex((w) => w.match(frame));
    if (i >= 0) waiters.splice(i, 1)[0]?.resolve(frame);
    else frames.push(frame);
  });
  const take = (match: (f: Rpc) => boolean): Promise<Rpc> => {
    const i = frames.findIndex(match);
    if (i >= 0) return Promise.resolve(frames.splice(i, 1)[0] as Rpc);
    return new Promise((resolve) => waiters.push({ match, resolve }));
  };
  return {
    call(method, params) {
      const n = ++id;
      ws.send(
        JSON.stringify({
          jsonrpc: '2.0',
          id: n,
          method,
          ...(params === undefined ? {} : { params }),
        }),
      );
      return take((f) => f.id === n);
    },
    next: (method) => take((f) => f.method === method),
  };
}

after(cleanupAgents);

describe('web console (browser mode)', () => {
  let agent: RunningAgent;
  let token: string;
  let fingerprint: string;
  let core: ConsoleCore;
  let web: WebConsole;
  let staticDir: string;

  before(async () => {
    const creds = await initAgent({ site: 'Web site' });
    ({ token, fingerprint } = creds);
    agent = await startAgent({ dataDir: creds.dataDir });
    staticDir = await makeTempDir('tl-static-');
    mkdirSync(join(staticDir, 'assets'));
    writeFileSync(
      join(staticDir, 'index.html'),
      '<!doctype html><title>Tideline</title><script src="/assets/app.js"></script>',
    );
    writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log("hi")');
    writeFileSync(join(staticDir, 'assets', 'app.css'), 'body{}');
    core = new ConsoleCore({
      settings: openNodeSettings(await makeTempDir('tl-web-')),
      mode: 'browser',
      coalesceMs: 10,
    });
    core.start();
    web = await startWebConsole({ core, host: '127.0.0.1', port: 0, staticDir });
  });
  after(async () => {
    await web.close();
    await core.stop();
    await agent.stop();
  });

  it('refuses to listen anywhere but 127.0.0.1', async () => {
    for (const host of ['0.0.0.0', '::', 'localhost']) {
      await assert.rejects(
        startWebConsole({ core, host, port: 0, staticDir }),
        /127\.0\.0\.1 only/,
      );
    }
    assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    if (external !== undefined) {
      const socket = connect({ host: external.address, port: web.port });
      const [err] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'ECONNREFUSED');
    }
  });

  it('answers 401 without a valid one-time token, then exchanges one for a session cookie', async () => {
    const none = await get(`${web.origin}/`);
    assert.equal(none.status, 401);
    assert.match(await none.text(), /Open the link the console printed/);
    assert.equal((await get(`${web.origin}/?token=wrong`)).status, 401);
    assert.equal((await get(`${web.origin}/assets/app.js`)).status, 401);

    const login = await get(web.url);
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/');
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.equal((await get(web.url)).status, 401, 'the token works once');

    const cookie = setCookie.split(';')[0] ?? '';
    const index = await get(`${web.origin}/`, cookie);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    const csp = index.headers.get('content-security-policy') ?? '';
    assert.match(csp, /(^|; )script-src 'self'(;|$)/, 'scripts only from the console itself');
    assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:${web.port}(;|$)`));
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-eval|\*/);
    assert.match(await index.text(), /<title>Tideline<\/title>/);
    assert.equal(
      (await get(`${web.origin}/assets/app.js`, cookie)).headers.get('content-type'),
      'text/javascript; charset=utf-8',
    );
    assert.equal(
      (await get(`${web.origin}/assets/app.css`, cookie)).headers.get('content-type'),
      'text/css; charset=utf-8',
    );
    const spa = await get(`${web.origin}/sites/abc`, cookie);
    assert.equal(spa.status, 200);
    assert.match(await spa.text(), /<title>Tideline/);
    assert.equal((await get(`${web.origin}/assets/missing.js`, cookie)).status, 404);
    assert.equal((await get(`${web.origin}/..%2f..%2fpackage.json`, cookie)).status, 404);

    const second = web.issueLoginUrl();
    assert.equal((await get(second)).status, 303);
    assert.equal((await get(second)).status, 401);
  });

  it('refuses a request whose Host is not 127.0.0.1:PORT (DNS rebinding)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: web.port,
        path: '/',
        headers: { host: `evil.example:${web.port}` },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 421);
  });

  it('serves the ConsoleApi on /api to a signed-in page of the right origin only', async () => {
    const login = await get(web.issueLoginUrl());
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    assert.equal(await openApi(web.origin, { Origin: web.origin }), 401);
    assert.equal(
      await openApi(web.origin, { Origin: web.origin, Cookie: 'tideline_session_1=forged' }),
      401,
    );
    assert.equal(await openApi(web.origin, { Cookie: cookie }), 403);
    assert.equal(await openApi(web.origin, { Cookie: cookie, Origin: 'http://evil.example' }), 403);

    const ws = await openApi(web.origin, { Cookie: cookie, Origin: web.origin });
    assert.ok(ws instanceof WebSocket);
    try {
      const api = rpc(ws);
      const info = await api.call('console.info');
      assert.deepEqual(info.result, { version: '0.1.0', mode: 'browser' });
      const empty = await api.call('estate.get');
      assert.deepEqual(empty.result, {
        agents: [],
        sites: [],
        hosts: [],
        vms: [],
        pairings: [],
        vpgs: [],
      });

      const bad = await api.call('agents.add', {
        address: agent.address,
        token,
        fingerprint: 'nope',
      });
      assert.equal(bad.error?.code, -32602);
      assert.equal(bad.error?.data?.path, 'fingerprint');
      assert.equal((await api.call('agents.nope')).error?.code, -32601);

      const added = await api.call('agents.add', { address: agent.address, token, fingerprint });
      assert.equal(
        (added.result as { state: string }).state,
        'connected',
        JSON.stringify(added.error),
      );
      const pushed = await api.next('estate.changed');
      assert.ok(Array.isArray((pushed.params as { agents: unknown[] }).agents));
      await untilEstate(core, (s) => s.vms.length > 0);
      const estate = (await api.call('estate.get')).result as {
        sites: { name: string }[];
        vms: unknown[];
      };
      assert.equal(estate.sites[0]?.name, 'Web site');
      assert.ok(estate.vms.length > 0);

      const wrong = await api.call('agents.add', { address: '127.0.0.1:1', token, fingerprint });
      assert.equal(wrong.error?.code, -32008);
      assert.doesNotMatch(wrong.error?.message ?? '', /\n\s+at /, 'no stack trace');
    } finally {
      ws.close();
    }
  });

  it('runs as a CLI: prints the sign-in line and stops cleanly on SIGTERM', async () => {
    const settingsDir = await makeTempDir('tl-cli-');
    const seed = join(settingsDir, 'seed.json');
    writeFileSync(seed, JSON.stringify([{ address: agent.address, token, fingerprint }]));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'main/web/cli.ts',
        '--settings-dir',
        settingsDir,
        '--port',
        '0',
        '--static',
        staticDir,
        '--seed',
        seed,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /^Console: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/m.exec(stdout);
        if (m?.[1]) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    try {
      const res = await get(line);
      assert.equal(res.status, 303);
      const saved = openNodeSettings(settingsDir).agents();
      assert.deepEqual(
        saved.map((a) => [a.address, a.fingerprint, a.token]),
        [[agent.address, fingerprint, token]],
      );
      assert.doesNotMatch(stderr, new RegExp(token), 'the token is never logged');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
  });
});
