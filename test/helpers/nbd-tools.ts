/**
 * The real NBD clients of the interop tests (Debian packages qemu-utils, fio, libnbd-bin):
 * a check that they are installed, a runner that fails with their output, and the files the
 * tests copy.
 */
import { reservePorts } from './agents';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { open } from 'node:fs/promises';

/** Each tool with the Debian package that brings it. */
export const NBD_TOOLS = {
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  nbdinfo: 'libnbd-bin',
  nbdcopy: 'libnbd-bin',
  fio: 'fio',
} as const;
export type NbdTool = keyof typeof NBD_TOOLS;

/** Fails, naming the packages to install, unless every tool given runs. */
export function requireTools(tools: readonly NbdTool[]): void {
  const missing = tools.filter((tool) => {
    const probe = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    return probe.error !== undefined;
  });
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => NBD_TOOLS[t]))].join(' ');
  assert.fail(
    `NBD interop tools not found: ${missing.join(', ')}; install them: apt-get install ${packages}`,
  );
}

export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool to completion; fails with its output unless it exits 0. */
export async function runTool(
  command: string,
  args: readonly string[],
  timeoutMs = 120_000,
): Promise<ToolResult> {
  // In the temp dir: fio leaves verify state files in its working directory.
  const child = spawn(command, args, { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  assert.ok(
    code === 0,
    `${command} ${args.join(' ')} failed (exit ${code}${signal ? `, ${signal}` : ''}):\n${stderr}${stdout}`,
  );
  return { stdout, stderr };
}

/** A file of `bytes` random bytes. */
export async function randomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const chunk = 4 * 1024 * 1024;
    for (let at = 0; at < bytes; at += chunk) {
      const data = randomBytes(Math.min(chunk, bytes - at));
      await handle.write(data, 0, data.length, at);
    }
  } finally {
    await handle.close();
  }
}

/** `length` bytes of a file at `offset`. */
export async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const out = Buffer.alloc(length);
    const { bytesRead } = await handle.read(out, 0, length, offset);
    return out.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A TCP port free on 127.0.0.1, below the ephemeral range (agents.ts reservePorts). */
export function freePort(): Promise<number> {
  return reservePorts(1);
}

/** fio's JSON report (the nbd engine prints a line before it). */
export interface FioJob {
  readonly jobname: string;
  readonly error: number;
  readonly read: { readonly io_bytes: number; readonly iops: number };
  readonly write: { readonly io_bytes: number; readonly iops: number };
}

export function parseFio(stdout: string): FioJob[] {
  const start = stdout.indexOf('{');
  assert.ok(start >= 0, `fio printed no JSON:\n${stdout}`);
  return (JSON.parse(stdout.slice(start)) as { jobs: FioJob[] }).jobs;
}
