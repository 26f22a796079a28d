/**
 * Real tideline-agent processes for tests: init a data directory, start the daemon from the
 * BUILT bundle (bin/tideline-agent.mjs → dist/agent/cli.mjs) on 127.0.0.1 (ports from
 * reservePorts), and talk to it
 * over real wss with a raw client. Used by the agent's own tests, the console core's and e2e.
 *
 *   const a = await initAgent({ site: 'Headquarters' });        // { dataDir, token, fingerprint }
 *   const agent = await startAgent({ dataDir: a.dataDir });      // waits for the "listening" log line
 *   agent.replicationAddress                                     // 127.0.0.1:PORT of its peer listener
 *   const client = await connectRaw(agent.url, { token: a.token, fingerprint: a.fingerprint });
 *   await client.hello();
 *   const vms = await client.result('vm.list');
 *   await client.close();
 *   await agent.stop();                                          // SIGTERM; resolves the exit code
 *   after(cleanupAgents);                                        // stops leftovers, removes temp dirs
 *
 * The bundle is rebuilt once per test process when any agent/ or app/ source is newer than it
 * (under a lock, so parallel test processes don't race); TIDELINE_TEST_NO_BUILD=1 skips that.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ClientRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_BIN = join(REPO_ROOT, 'bin', 'tideline-agent.mjs');
export const AGENT_BUNDLE = join(REPO_ROOT, 'dist', 'agent', 'cli.mjs');

const tempDirs = new Set<string>();
const running = new Set<RunningAgent>();

// ───────────────────────────── building ─────────────────────────────

let built: Promise<void> | undefined;

/** Builds dist/agent/cli.mjs if a source under agent/ or app/ is newer (once per process). */
export function ensureAgentBuilt(): Promise<void> {
  built ??= buildIfStale();
  return built;
}

async function buildIfStale(): Promise<void> {
  if (process.env['TIDELINE_TEST_NO_BUILD'] === '1') return;
  if (!isStale()) return;
  const lock = join(REPO_ROOT, 'dist', '.agent-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`agent build lock ${lock} held for 2 min; remove it`);
      if (Date.now() - statMtime(lock) > 60_000) rmdirSync(lock); // a crashed builder's lock
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (!isStale()) return;
    const build = spawn(process.execPath, ['scripts/build.mjs', '--only', 'agent', '--quiet'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    build.stdout.on('data', (d: Buffer) => (output += d.toString()));
    build.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(build, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`agent build failed (exit ${code}):\n${output}`);
  } finally {
    rmdirSync(lock);
  }
}

function isStale(): boolean {
  if (!existsSync(AGENT_BUNDLE)) return true;
  const bundle = statMtime(AGENT_BUNDLE);
  return ['agent', 'app'].some((dir) => newestSource(join(REPO_ROOT, dir)) > bundle);
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statMtime(path));
  }
  return newest;
}

function statMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

// ───────────────────────────── temp dirs and cleanup ─────────────────────────────

/** A new temp directory, removed by cleanupAgents(). */
export async function makeTempDir(prefix = 'tideline-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Stops every agent started here (SIGTERM, then SIGKILL) and removes the temp dirs. */
export async function cleanupAgents(): Promise<void> {
  await Promise.all([...running].map((agent) => agent.stop()));
  // TIDELINE_TEST_KEEP=1 keeps the data dirs (agent logs in <dir>/logs) to look at a failure.
  if (process.env['TIDELINE_TEST_KEEP'] === '1') {
    process.stderr.write(`kept: ${[...tempDirs].join(' ')}\n`);
    tempDirs.clear();
    return;
  }
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
}

process.once('exit', () => {
  for (const agent of running) agent.process.kill('SIGKILL');
});

// ───────────────────────────── ports ─────────────────────────────

/** Below Linux's ephemeral range (ip_local_port_range, 32768–60999 by default). */
const PORT_RANGE = { from: 20_000, to: 32_000 } as const;
let nextPort = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));

/**
 * `count` consecutive TCP ports free on 127.0.0.1, below the ephemeral range. A port 0
 * listener gets an ephemeral port, and once its agent stops, any outgoing connection of the
 * machine may take it as its source port: an agent restarted on it then fails EADDRINUSE (the
 * flake of restart tests). Ports outside that range are never handed out implicitly.
 */
export async function reservePorts(count: number): Promise<number> {
  for (let tries = 0; tries < 200; tries += 1) {
    if (nextPort + count > PORT_RANGE.to) nextPort = PORT_RANGE.from;
    const first = nextPort;
    nextPort += count;
    let free = true;
    for (let port = first; port < first + count && free; port += 1) free = await bindable(port);
    if (free) return first;
  }
  throw new Error(`no ${count} free consecutive ports in ${PORT_RANGE.from}–${PORT_RANGE.to}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createNetServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

// ───────────────────────────── the CLI ─────────────────────────────

/** The default agent program: this Node running bin/tideline-agent.mjs (built if stale). */
async function builtAgentCommand(): Promise<string[]> {
  await ensureAgentBuilt();
  return [process.execPath, AGENT_BIN];
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tideline-agent ...args` to completion (for init, --help, usage errors). */
export async function runAgentCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; command?: readonly string[] } = {},
): Promise<CliResult> {
  const [program, ...programArgs] = options.command ?? (await builtAgentCommand());
  const child = spawn(program as string, [...programArgs, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

export interface InitAgentOptions {
  readonly site: string;
  /** Default: a new temp dir (removed by cleanupAgents). */
  readonly dataDir?: string;
  readonly hypervisor?: 'sim' | 'libvirt';
  /** More `init` flags, e.g. ['--sim-disk-mib', '32']. */
  readonly args?: readonly string[];
  /** The agent program (default: this Node running the built bundle); e.g. a package's. */
  readonly command?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface InitializedAgent {
  readonly dataDir: string;
  /** The admin token init printed. */
  readonly token: string;
  /** SHA-256 certificate fingerprint, AB:CD:… */
  readonly fingerprint: string;
}

/** `tideline-agent init`; throws (with stderr) unless it exits 0. */
export async function initAgent(options: InitAgentOptions): Promise<InitializedAgent> {
  const dataDir = options.dataDir ?? join(await makeTempDir('tideline-agent-'), 'data');
  const args = ['init', '--data-dir', dataDir, '--site', options.site];
  if (options.hypervisor !== undefined) args.push('--hypervisor', options.hypervisor);
  args.push(...(options.args ?? []));
  const result = await runAgentCli(args, {
    ...(options.command !== undefined && { command: options.command }),
    ...(options.env !== undefined && { env: options.env }),
  });
  const token = /^token: (\S+)$/m.exec(result.stdout)?.[1];
  const fingerprint = /^fingerprint: (\S+)$/m.exec(result.stdout)?.[1];
  if (result.code !== 0 || token === undefined || fingerprint === undefined) {
    throw new Error(
      `tideline-agent init failed (exit ${result.code}):\n${result.stderr}${result.stdout}`,
    );
  }
  return { dataDir, token, fingerprint };
}

// ───────────────────────────── the daemon ─────────────────────────────

/** One parsed JSON log line of the agent's stdout. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface StartAgentOptions {
  readonly dataDir: string;
  /**
   * Default 127.0.0.1:P with P (and P + 1, the replication port) from reservePorts: a restart
   * on the same addresses then cannot find them taken by some connection's source port.
   */
  readonly listen?: string;
  /** --replication-listen; default the agent's own (listen host, port + 1; 0 for a free port). */
  readonly replicationListen?: string;
  /** More `run` flags, e.g. ['--keepalive', '1']. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Run inside this network namespace (`ip netns exec`; test/helpers/wan-link.ts). */
  readonly netns?: string;
  /** How long to wait for the "listening" line (default 20 s). */
  readonly timeoutMs?: number;
  /** The agent program (default: this Node running the built bundle); e.g. a package's. */
  readonly command?: readonly string[];
}

export interface RunningAgent {
  /** wss://127.0.0.1:PORT/ */
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly address: string;
  readonly port: number;
  /** Advertised replication address (127.0.0.1:PORT), from the "replication listening" line. */
  readonly replicationAddress: string;
  readonly replicationPort: number;
  /** The certificate fingerprint, from the "listening" log line. */
  readonly fingerprint: string;
  readonly process: ChildProcess;
  /** Everything the agent wrote to stdout and stderr so far. */
  logs(): string;
  /** stdout's JSON log lines so far. */
  logLines(): LogLine[];
  /** Resolves with the first log line (past or future) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process has exited, with its exit code (null if killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM), waits for exit (SIGKILL after timeoutMs); resolves the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts `tideline-agent run` and waits for its "listening" log line. */
export async function startAgent(options: StartAgentOptions): Promise<RunningAgent> {
  const agentCommand = options.command ?? (await builtAgentCommand());
  const listen = options.listen ?? `127.0.0.1:${await reservePorts(2)}`;
  const replication =
    options.replicationListen === undefined
      ? []
      : ['--replication-listen', options.replicationListen];
  const args = ['run', '--data-dir', options.dataDir, '--listen', listen, ...replication];
  const command = [...agentCommand, ...args, ...(options.args ?? [])];
  if (options.netns !== undefined) command.unshift('ip', 'netns', 'exec', options.netns);
  const [program = process.execPath, ...programArgs] = command;
  const child = spawn(program, programArgs, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let partial = '';
  const lines: LogLine[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const raw of parts) {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const watch of [...watchers]) watch(line);
    }
  });
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => resolveExit(code));
  });

  const waitForLog = (
    predicate: (line: LogLine) => boolean,
    timeoutMs = 20_000,
  ): Promise<LogLine> => {
    const past = lines.find(predicate);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise<LogLine>((resolveLine, reject) => {
      const done = (): void => {
        watchers.delete(watch);
        clearTimeout(timer);
      };
      const watch = (line: LogLine): void => {
        if (!predicate(line)) return;
        done();
        resolveLine(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`agent log line not seen within ${timeoutMs} ms; logs:\n${text}`));
      }, timeoutMs);
      watchers.add(watch);
      void exited.then((code) => {
        if (!watchers.has(watch)) return;
        done();
        reject(new Error(`agent exited (code ${code}) before the log line; logs:\n${text}`));
      });
    });
  };

  let stopping: Promise<number | null> | undefined;
  const agent: RunningAgent = {
    url: '',
    address: '',
    port: 0,
    replicationAddress: '',
    replicationPort: 0,
    fingerprint: '',
    process: child,
    logs: () => text,
    logLines: () => [...lines],
    waitForLog,
    exited,
    stop: (signal = 'SIGTERM', timeoutMs = 10_000) => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          const code = await exited;
          clearTimeout(timer);
          running.delete(agent);
          return code;
        }
        running.delete(agent);
        return exited;
      })();
      return stopping;
    },
  };
  running.add(agent);
  let listening: LogLine;
  try {
    listening = await waitForLog((line) => line.msg === 'listening', options.timeoutMs ?? 20_000);
  } catch (err) {
    await agent.stop('SIGKILL');
    throw err;
  }
  const port = Number(listening['port']);
  const url = String(listening['url']);
  const replicationLine = lines.find((line) => line.msg === 'replication listening');
  return Object.assign(agent, {
    url,
    port,
    replicationAddress: String(replicationLine?.['address'] ?? ''),
    replicationPort: Number(replicationLine?.['port'] ?? 0),
    address: `${new URL(url).hostname}:${port}`,
    fingerprint: String(listening['fingerprint']),
  });
}

// ───────────────────────────── raw client ─────────────────────────────

export interface RawClientOptions {
  /** Sent as `Authorization: Bearer <token>`; omit to connect without one. */
  readonly token?: string;
  /** When given, the connection is refused before any header (the token) is sent unless the
   *  server's certificate has this SHA-256 fingerprint. */
  readonly fingerprint?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Default true; false makes a peer that never answers pings (for keepalive tests). */
  readonly autoPong?: boolean;
  /** Local source address, e.g. 127.0.0.2 to appear as another peer (throttle tests). */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
}

/** The server refused the WebSocket upgrade (401, 429, …). */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string | string[] | undefined>>,
    readonly body: string,
  ) {
    super(`upgrade refused: HTTP ${status}: ${body.trim()}`);
    this.name = 'UpgradeRefusedError';
  }
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** A JSON-RPC response frame as received (not validated). */
export interface RpcResponse {
  readonly jsonrpc: '2.0';
  readonly id: string | number | null;
  readonly result?: unknown;
  readonly error?: {
    readonly code: number;
    readonly message: string;
    readonly data?: Record<string, unknown>;
  };
}

export interface RawClient {
  readonly ws: WebSocket;
  /** Sends a text frame (a string) or a binary frame (a Buffer). */
  send(data: string | Buffer): void;
  sendJson(value: unknown): void;
  /** The next received text frame not yet taken by another wait (default timeout 10 s). */
  next(timeoutMs?: number): Promise<string>;
  nextJson<T = unknown>(timeoutMs?: number): Promise<T>;
  /** The first received frame (past or future, not yet taken) whose JSON matches. */
  waitFor<T = unknown>(predicate: (value: unknown) => boolean, timeoutMs?: number): Promise<T>;
  /** The next notification of `method` (its params). */
  notification<T = unknown>(method: string, timeoutMs?: number): Promise<T>;
  /** Sends a request with a fresh numeric id and resolves with its response frame. */
  request(method: string, params?: unknown, timeoutMs?: number): Promise<RpcResponse>;
  /** request(), then the result; rejects with the error object's message on an error. */
  result<T = unknown>(method: string, params?: unknown): Promise<T>;
  /** hello with protocol version 1 (or the one given); resolves with its result. */
  hello(protocolVersion?: number): Promise<Record<string, unknown>>;
  /** Resolves when the connection has closed, with the close code and reason. */
  readonly closed: Promise<CloseInfo>;
  /** Closes (default 1000) and waits for the close to finish. */
  close(code?: number, reason?: string): Promise<CloseInfo>;
}

/**
 * A WebSocket client to the agent: TLS without CA checks (the agent's certificate is
 * self-signed) but, with `fingerprint`, pinned — checked before the request (and its token)
 * is sent. Collects every text frame; `next`/`waitFor`/`request` take frames from that queue.
 * Rejects with UpgradeRefusedError when the server answers the upgrade with an HTTP error.
 */
export function connectRaw(url: string, options: RawClientOptions = {}): Promise<RawClient> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['Authorization'] = `Bearer ${options.token}`;
  const ws = new WebSocket(url, {
    rejectUnauthorized: false,
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: options.timeoutMs ?? 10_000,
    autoPong: options.autoPong ?? true,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    finishRequest: (req: ClientRequest) => {
      req.once('socket', (socket) => {
        const tls = socket as TLSSocket;
        const proceed = (): void => {
          const actual = tls.getPeerCertificate().fingerprint256;
          if (options.fingerprint !== undefined && actual !== options.fingerprint) {
            req.destroy(
              new Error(
                `certificate fingerprint mismatch: expected ${options.fingerprint}, got ${actual}`,
              ),
            );
            return;
          }
          for (const [name, value] of Object.entries(headers)) req.setHeader(name, value);
          req.end();
        };
        if (
          tls.encrypted &&
          !tls.connecting &&
          tls.getPeerCertificate().fingerprint256 !== undefined
        )
          proceed();
        else tls.once('secureConnect', proceed);
      });
    },
  });

  const frames: string[] = [];
  const waiters = new Set<{ match: (text: string) => boolean; deliver: (text: string) => void }>();
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? `<binary ${String((data as Buffer).length)} bytes>` : data.toString();
    for (const waiter of waiters) {
      if (waiter.match(text)) {
        waiters.delete(waiter);
        waiter.deliver(text);
        return;
      }
    }
    frames.push(text);
  });
  const closed = new Promise<CloseInfo>((resolveClose) => {
    ws.once('close', (code, reason) => resolveClose({ code, reason: reason.toString() }));
  });
  ws.on('error', () => undefined); // surfaced through open/close below

  const take = (match: (text: string) => boolean, timeoutMs = 10_000): Promise<string> => {
    const index = frames.findIndex(match);
    if (index >= 0) return Promise.resolve(frames.splice(index, 1)[0] as string);
    return new Promise<string>((resolveFrame, reject) => {
      const waiter = {
        match,
        deliver: (text: string) => {
          clearTimeout(timer);
          resolveFrame(text);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(waiter);
      void closed.then((info) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(
          new Error(`connection closed (${info.code} ${info.reason}) while waiting for a frame`),
        );
      });
    });
  };
  const matchJson = (predicate: (value: unknown) => boolean) => (text: string) => {
    try {
      return predicate(JSON.parse(text));
    } catch {
      return false;
    }
  };

  let nextId = 1;
  const client: RawClient = {
    ws,
    send: (data) => ws.send(data),
    sendJson: (value) => ws.send(JSON.stringify(value)),
    next: (timeoutMs) => take(() => true, timeoutMs),
    nextJson: async <T>(timeoutMs?: number) => JSON.parse(await take(() => true, timeoutMs)) as T,
    waitFor: async <T>(predicate: (value: unknown) => boolean, timeoutMs?: number) =>
      JSON.parse(await take(matchJson(predicate), timeoutMs)) as T,
    notification: async <T>(method: string, timeoutMs?: number) => {
      const frame = await client.waitFor<{ params: T }>(
        (v) => isObject(v) && v['method'] === method && !('id' in v),
        timeoutMs,
      );
      return frame.params;
    },
    request: (method, params, timeoutMs) => {
      const id = nextId++;
      const frame: Record<string, unknown> = { jsonrpc: '2.0', id, method };
      if (params !== undefined) frame['params'] = params;
      ws.send(JSON.stringify(frame));
      return client.waitFor<RpcResponse>((v) => isObject(v) && v['id'] === id, timeoutMs);
    },
    result: async <T>(method: string, params?: unknown) => {
      const response = await client.request(method, params);
      if (response.error !== undefined) {
        throw new Error(`${method} failed: ${response.error.code} ${response.error.message}`);
      }
      return response.result as T;
    },
    hello: (protocolVersion = 1) =>
      client.result<Record<string, unknown>>('hello', {
        protocolVersion,
        client: { product: 'tideline-test', version: '0.0.0' },
      }),
    closed,
    close: (code = 1000, reason = '') => {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
      const timer = setTimeout(() => ws.terminate(), 5_000);
      return closed.finally(() => clearTimeout(timer));
    },
  };

  return new Promise<RawClient>((resolveOpen, reject) => {
    ws.once('open', () => resolveOpen(client));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        reject(new UpgradeRefusedError(res.statusCode ?? 0, res.headers, body));
        ws.terminate();
      });
      res.on('error', () => undefined);
    });
    ws.once('error', (err) => reject(err));
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
