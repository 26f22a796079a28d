/**
 * One way to run the host tools of the guest helpers (apt-get, dpkg-deb, gcc, sfdisk, mtools,
 * syslinux, virsh): to completion, with a timeout, failing with the command line and its
 * output so that a broken build or a libvirt refusal says what went wrong.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  readonly cwd?: string;
  /** Written to the command's stdin, which is closed afterwards. */
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` and resolves with its output; rejects unless it exits 0 in time. */
export function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const { cwd, input, env, timeoutMs = 300_000 } = options;
  const line = [command, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${line}: could not start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ stdout, stderr });
      const how = timedOut
        ? `timed out after ${timeoutMs} ms`
        : `exit ${code ?? 'none'}${signal ? `, ${signal}` : ''}`;
      reject(new Error(`${line} failed (${how}):\n${stderr.trim()}\n${stdout.trim()}`.trim()));
    });
    child.stdin.on('error', () => undefined); // a command that exits without reading stdin
    child.stdin.end(input ?? '');
  });
}
